"""`hippograph serve` wiring: the in-process worker picks up jobs posted over the API, and data
survives a restart of the service on the same data dir."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from service.app import create_app
from service.cli import main
from service.container import Container
from tests.conftest import make_settings


def _wait(client, job_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_background_worker_indexes_and_data_survives_restart(tmp_path, embedder):
    settings = make_settings(tmp_path, worker={"in_process": True, "poll_interval_s": 0.05})
    with TestClient(create_app(Container.from_settings(settings, embedder=embedder))) as client:
        client.post("/v1/namespaces", json={"name": "live"})
        docs = [
            {
                "id": "a",
                "title": "Ada Lovelace",
                "text": "Ada Lovelace worked with Charles Babbage in London.",
            }
        ]
        job_id = client.post("/v1/namespaces/live/documents", json={"documents": docs}).json()["job_id"]
        assert _wait(client, job_id)["status"] == "succeeded"
        stats = client.get("/v1/namespaces/live/stats").json()
        first = client.post("/v1/namespaces/live/query", json={"query": "Who worked with Babbage?"}).json()
        assert [p["document_id"] for p in first["passages"]] == ["a"]
    # A new process on the same data dir: same namespace, documents, graph, and ranking.
    with TestClient(create_app(Container.from_settings(settings, embedder=embedder))) as client:
        assert client.get("/v1/namespaces/live/stats").json() == stats
        again = client.post("/v1/namespaces/live/query", json={"query": "Who worked with Babbage?"}).json()
        assert [p["passage_id"] for p in again["passages"]] == [p["passage_id"] for p in first["passages"]]


def test_cli_migrate_and_import_openie(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HIPPOGRAPH_DATA_DIR", str(tmp_path))
    openie = {
        "docs": [
            {
                "title": "Warsaw",
                "text": "Warsaw is the capital of Poland.",
                "extracted_entities": ["Warsaw", "Poland"],
                "extracted_triples": [["Warsaw", "capital of", "Poland"]],
            },
            {
                "title": "Chopin",
                "text": "Chopin was born near Warsaw.",
                "extracted_entities": ["Chopin", "Warsaw"],
                "extracted_triples": [["Chopin", "born near", "Warsaw"], ["broken triple"]],
            },
        ]
    }
    path = tmp_path / "openie.json"
    path.write_text(json.dumps(openie))
    for argv in (["migrate"], ["import-openie", "imported", str(path)]):
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["documents"] == 2
    assert summary["passages"] == 2 and summary["facts"] == 2 and summary["entities"] == 3
    assert summary["dropped_triples"] == 1
