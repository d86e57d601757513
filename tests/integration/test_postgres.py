"""The relational store, the job queue and the SQL graph backend on a real PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import Container
from service.domain.records import IngestPayload
from tests.conftest import assert_utc, drain, make_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_container(tmp_path, embedder, pg_url) -> Container:
    c = Container.from_settings(make_settings(tmp_path, database={"url": pg_url}), embedder=embedder)
    c.migrate()
    yield c
    c.close()


def test_full_round_trip_on_postgres(pg_container):
    with TestClient(create_app(pg_container, run_worker=False, migrate=False)) as client:
        assert client.post("/v1/namespaces", json={"name": "pg"}).status_code == 201
        base = {
            "id": "base",
            "title": "Warsaw",
            "text": "Warsaw is the capital of Poland. Chopin lived in Warsaw.",
        }
        client.post("/v1/namespaces/pg/documents", json={"documents": [base]})
        drain(pg_container)
        before = client.get("/v1/namespaces/pg/stats").json()
        extra = {
            "id": "extra",
            "title": "Chopin",
            "text": "Frederic Chopin was born in Zelazowa Wola near Warsaw.",
        }
        job = client.post("/v1/namespaces/pg/documents", json={"documents": [extra]}).json()["job_id"]
        drain(pg_container)
        finished = client.get(f"/v1/jobs/{job}").json()
        assert finished["status"] == "succeeded"
        extra_doc = client.get("/v1/namespaces/pg/documents/extra").json()
        assert_utc(finished["created_at"], finished["finished_at"], extra_doc["created_at"])
        hits = client.post(
            "/v1/namespaces/pg/query", json={"query": "Where was Chopin born?", "top_k": 2}
        ).json()
        assert hits["passages"][0]["document_id"] == "extra"
        assert client.delete("/v1/namespaces/pg/documents/extra").status_code == 204
        assert client.get("/v1/namespaces/pg/stats").json() == before


def test_concurrent_claims_take_each_job_exactly_once(pg_container):
    pg_container.documents.create_namespace("q")
    with pg_container.engine.begin() as conn:
        ids = {pg_container.jobs.enqueue(conn, "q", IngestPayload(())) for _ in range(30)}
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(n: int) -> None:
        while True:
            job = pg_container.jobs.claim(f"w{n}")
            if job is None:
                return
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)  # all claimed, none twice


def test_stalled_job_is_requeued_and_retried(pg_container):
    pg_container.documents.create_namespace("r")
    with pg_container.engine.begin() as conn:
        job_id = pg_container.jobs.enqueue(conn, "r", IngestPayload(()))
    assert pg_container.jobs.claim("dead-worker").id == job_id
    assert pg_container.jobs.claim("other") is None
    assert pg_container.jobs.reap_stalled(stalled_after_s=-1) == 1  # heartbeat is "too old"
    job = pg_container.jobs.claim("other")
    assert job.id == job_id and job.attempts == 2
