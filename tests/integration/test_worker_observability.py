"""Metrics and JSON logs of the deployment's two kinds of process (issue #11): a live
``hippograph serve --no-worker``-style API (in-process worker off) and a separate
``hippograph worker`` on the same SQLite data dir, both with ``HIPPOGRAPH_LOG_FORMAT=json``. A
document posted to the API is indexed by the worker; then both are scraped — the worker on its
own metrics port — and both logs are read as JSON lines carrying request, job and document ids.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks.live_server import REPO, LiveServer, free_port
from tests.api.test_metrics import scrape, value


def _json_lines(path: Path) -> list[dict]:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    records = [json.loads(ln) for ln in lines]  # every line: one JSON object, nothing else
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    return records


def test_api_and_worker_processes_expose_metrics_and_log_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"HIPPOGRAPH_WORKER__IN_PROCESS": "false", "HIPPOGRAPH_LOG_FORMAT": "json"}
    server = LiveServer(data, extra_env=env)
    worker: subprocess.Popen | None = None
    worker_log = tmp_path / "worker.log"
    port = free_port()
    try:
        server.start()
        worker_env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPOGRAPH_")}
        worker_env.update(
            {
                "HIPPOGRAPH_DATA_DIR": str(data),
                "HIPPOGRAPH_LOG_FORMAT": "json",
                "HIPPOGRAPH_METRICS__WORKER_PORT": str(port),
                "HIPPOGRAPH_WORKER__POLL_INTERVAL_S": "0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        with worker_log.open("w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "service", "worker"],
                cwd=REPO,
                env=worker_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        with httpx.Client(base_url=server.base_url, headers=server.admin_headers(), timeout=30) as http:
            assert http.post("/v1/namespaces", json={"name": "obs"}).status_code == 201
            posted = http.post(
                "/v1/namespaces/obs/documents",
                json={"documents": [{"id": "w", "title": "Warsaw", "text": "Warsaw lies on the Vistula."}]},
                headers={"X-Request-ID": "req-obs-1"},
            )
            assert posted.status_code == 202 and posted.headers["x-request-id"] == "req-obs-1"
            job_id = posted.json()["job_id"]
            deadline = time.monotonic() + 120
            while (job := http.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
                assert worker.poll() is None, worker_log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the worker did not index the document in 120 s"
                time.sleep(0.2)
            assert job["status"] == "succeeded", job
            api = scrape(http.get("/metrics").text)
        worker_metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert worker_metrics.status_code == 200
        scraped = scrape(worker_metrics.text)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(60)
        server.stop()

    assert value(scraped, "hippograph_documents_total", outcome="indexed") == 1
    assert value(scraped, "hippograph_ingest_group_seconds_count") == 1
    assert value(api, "hippograph_jobs", status="succeeded") == 1
    posted_route = "/v1/namespaces/{namespace}/documents"
    assert value(
        api, "hippograph_http_request_duration_seconds_count", route=posted_route, method="POST", status="202"
    ) == 1
    assert value(api, "hippograph_documents_total", outcome="indexed") == 0  # the API indexed nothing

    worker_records = _json_lines(worker_log)
    assert any(r.get("job_id") == job_id and "claimed" in r["message"] for r in worker_records)
    api_records = _json_lines(server.log_path)
    assert any(r.get("request_id") == "req-obs-1" for r in api_records)
