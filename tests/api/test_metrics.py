"""``GET /metrics`` scraped as Prometheus would (issue #11): the exposition parses, and requests,
query stages, jobs, documents, LLM calls and snapshot builds move by what the test did. Real
SQLite, the real app, the fake LLM server for the reader. (A worker process's own metrics port:
tests/integration/test_worker_observability.py.)"""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.container import Container
from service.observability.logs import ContextFilter
from tests.conftest import drain, llm_settings, make_settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(text: str) -> Samples:
    """Every sample of an exposition text, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_the_service_did(tmp_path, embedder, fake_llm):
    worker = {"in_process": False}
    c = Container.from_settings(
        make_settings(tmp_path, llm=llm_settings(fake_llm), worker=worker), embedder=embedder
    )
    c.migrate()
    try:
        with TestClient(create_app(c, run_worker=False, migrate=False)) as client:
            before = scrape(client.get("/metrics").text)
            assert client.post("/v1/namespaces", json={"name": "m"}).status_code == 201
            docs = [
                {"id": "w", "title": "Warsaw", "text": "Warsaw is the capital of Poland."},
                {"id": "k", "title": "Krakow", "text": "Krakow lies on the Vistula in Poland."},
            ]
            job = client.post("/v1/namespaces/m/documents", json={"documents": docs}).json()["job_id"]
            queued = scrape(client.get("/metrics").text)
            assert value(queued, "hippograph_jobs", status="queued") == 1
            assert value(queued, "hippograph_job_queue_oldest_age_seconds") >= 0
            drain(c)
            assert client.get(f"/v1/jobs/{job}").json()["status"] == "succeeded"
            r = client.post(
                "/v1/namespaces/m/query", json={"query": "Where is Warsaw?", "top_k": 2, "answer": True}
            )
            assert r.status_code == 200, r.text
            assert r.headers["x-request-id"]
            scraped = client.get("/metrics")
        assert scraped.headers["content-type"].startswith("text/plain")
        after = scrape(scraped.text)
    finally:
        c.close()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/v1/namespaces/{namespace}/query"
    http = "hippograph_http_request_duration_seconds_count"
    assert moved(http, route=route, method="POST", status="200") == 1
    assert moved("hippograph_queries_total", mode="graph") == 1
    for stage in ("snapshot", "embed", "dense", "link", "ppr", "fetch", "answer"):
        assert moved("hippograph_query_stage_seconds_count", mode="graph", stage=stage) == 1, stage
    assert value(after, "hippograph_jobs", status="succeeded") == 1
    assert value(after, "hippograph_jobs", status="queued") == 0
    assert moved("hippograph_documents_total", outcome="indexed") == 2
    assert moved("hippograph_ingest_group_seconds_count") == 1
    assert moved("hippograph_llm_requests_total", prompt="reader-v2", outcome="ok") == 1
    assert moved("hippograph_llm_tokens_total", prompt="reader-v2", kind="completion") >= 1
    assert moved("hippograph_snapshot_builds_total", kind="full") >= 1
    assert any(name.startswith("process_") for name, _ in after)  # the client's own collectors
    # Bounded labels only: no namespace names, document ids or raw paths.
    assert not any(v in ("m", "w", "k", "/v1/namespaces/m/query") for _, labels in after for _, v in labels)


def test_metrics_need_the_admin_key_when_keys_are_on_unless_made_public(tmp_path, embedder):
    admin_key = "admin-" + secrets.token_hex(16)
    for public, anonymous in ((False, 401), (True, 200)):
        settings = make_settings(
            tmp_path / str(public), auth={"admin_key": admin_key}, metrics={"public": public}
        )
        c = Container.from_settings(settings, embedder=embedder)
        c.migrate()
        try:
            with TestClient(create_app(c, run_worker=False, migrate=False)) as client:
                assert client.get("/metrics").status_code == anonymous
                admin = {"Authorization": f"Bearer {admin_key}"}
                assert client.get("/metrics", headers=admin).status_code == 200
                if not public:
                    key = client.post(
                        "/v1/keys", json={"name": "r", "scope": "admin", "namespaces": ["a"]}, headers=admin
                    ).json()["key"]
                    other = {"Authorization": f"Bearer {key}"}  # an admin of a namespace, not the service
                    assert client.get("/metrics", headers=other).status_code == 403
        finally:
            c.close()


def test_a_sane_request_id_is_echoed_and_an_unsafe_one_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    for unsafe in ("a b;<script>", "x" * 65, "line\tbreak"):
        given = client.get("/healthz", headers={"X-Request-ID": unsafe}).headers["x-request-id"]
        assert given != unsafe and len(given) == 32


def test_an_unhandled_error_is_a_json_500_with_the_request_id_in_its_log_and_response(
    client, monkeypatch, caplog
):
    container = client.app.state.container

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(type(container.documents), "list_namespaces", broken)
    caplog.handler.addFilter(ContextFilter())  # as setup_logging's handler has
    with caplog.at_level("ERROR"):
        r = client.get("/v1/namespaces", headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500
    assert r.json() == {"code": "internal_error", "detail": "internal server error"}
    assert r.headers["x-request-id"] == "req-500"
    records = [rec for rec in caplog.records if rec.getMessage() == "unhandled error"]
    assert records and records[0].exc_info is not None
    assert getattr(records[0], "request_id", None) == "req-500"
