"""The LLM extractor and reader through the real ``openai`` client against the local fake server."""

from __future__ import annotations

import pytest

from service.container import Container
from tests.conftest import drain, llm_settings, make_settings

GOOD = {"id": "good", "title": "Warsaw", "text": "Warsaw is the capital of Poland. Chopin lived in Warsaw."}


@pytest.fixture
def llm_container(tmp_path, embedder, fake_llm):
    """The shared fixture's container with ONE attempt per job. An LLM that keeps failing
    (5xx, timeouts) fails its document on a job's last attempt, here the first; with more
    attempts the job is retried first, as after any outage (tests/integration/test_faults.py)."""
    worker = {"in_process": False, "poll_interval_s": 0.05, "max_attempts": 1}
    c = Container.from_settings(
        make_settings(tmp_path, llm=llm_settings(fake_llm), worker=worker), embedder=embedder
    )
    c.migrate()
    yield c
    c.close()


@pytest.fixture
def ns(llm_client):
    llm_client.post("/v1/namespaces", json={"name": "llm"})
    return "llm"


def _ingest(client, container, ns, docs):
    job_id = client.post(f"/v1/namespaces/{ns}/documents", json={"documents": docs}).json()["job_id"]
    drain(container)
    return client.get(f"/v1/jobs/{job_id}").json()


def test_llm_extraction_builds_the_graph(llm_client, llm_container, fake_llm, ns):
    fake_llm.canned["Chopin lived"] = {
        "entities": ["Warsaw", "Poland", "Chopin"],
        "triples": [["Warsaw", "capital of", "Poland"], ["Chopin", "lived in", "Warsaw"]],
    }
    job = _ingest(llm_client, llm_container, ns, [GOOD])
    assert job["status"] == "succeeded", job
    stats = llm_client.get(f"/v1/namespaces/{ns}/stats").json()
    assert stats == {
        "documents": 1,
        "passages": 1,
        "entities": 3,
        "facts": 2,
        "synonym_edges": stats["synonym_edges"],
    }
    assert fake_llm.count("ner") == 1 and fake_llm.count("triples") == 1
    r = llm_client.post(
        f"/v1/namespaces/{ns}/query", json={"query": "Where did Chopin live?", "mode": "graph"}
    )
    body = r.json()
    assert body["mode"] == "graph" and body["passages"][0]["document_id"] == "good"
    assert any("Chopin" in f["text"] for f in body["facts"])
    assert {"embed", "link", "ppr", "total"} <= set(body["timings_ms"])


def test_llm_responses_are_cached_per_namespace(llm_client, llm_container, fake_llm, ns):
    first = _ingest(llm_client, llm_container, ns, [GOOD])
    calls = len(fake_llm.requests)
    doc_id = llm_client.get(f"/v1/namespaces/{ns}/documents").json()["documents"][0]["id"]
    assert llm_client.delete(f"/v1/namespaces/{ns}/documents/{doc_id}").status_code == 204
    again = _ingest(llm_client, llm_container, ns, [GOOD])  # re-indexing here is free
    assert first["status"] == again["status"] == "succeeded" and len(fake_llm.requests) == calls
    # Another namespace gets no hit on this one's passage (a hit would tell it the passage exists).
    llm_client.post("/v1/namespaces", json={"name": "other"})
    job = _ingest(llm_client, llm_container, "other", [GOOD])
    assert job["status"] == "succeeded" and len(fake_llm.requests) == calls + 2  # NER and triples


@pytest.mark.parametrize(
    ("marker", "reason"),
    [("FAIL_500", "HTTP 500"), ("FAIL_TIMEOUT", "timed out"), ("FAIL_MALFORMED", "malformed LLM output")],
)
def test_llm_failure_fails_the_document_with_zero_graph_writes(llm_client, llm_container, ns, marker, reason):
    bad = {"id": "bad", "text": f"Krakow is a city in Poland. {marker}"}
    job = _ingest(llm_client, llm_container, ns, [bad])
    assert job["status"] == "failed"
    assert job["errors"] == [{"document_id": "bad", "error": job["errors"][0]["error"]}]
    assert reason in job["errors"][0]["error"]
    doc = llm_client.get(f"/v1/namespaces/{ns}/documents/bad").json()
    assert doc["status"] == "failed" and reason in doc["error"]
    stats = llm_client.get(f"/v1/namespaces/{ns}/stats").json()
    assert stats == {"documents": 1, "passages": 0, "entities": 0, "facts": 0, "synonym_edges": 0}
    assert llm_container.graph.graph_version(ns) == 0  # nothing was written at all


def test_one_bad_document_does_not_sink_the_job(llm_client, llm_container, ns):
    job = _ingest(llm_client, llm_container, ns, [GOOD, {"id": "bad", "text": "Gdansk FAIL_500"}])
    assert job["status"] == "succeeded"
    assert job["progress"] == {"done": 2, "total": 2, "failed": 1}
    assert [e["document_id"] for e in job["errors"]] == ["bad"]
    assert llm_client.get(f"/v1/namespaces/{ns}/stats").json()["passages"] == 1


def test_transient_500_is_retried(llm_client, llm_container, ns):
    job = _ingest(llm_client, llm_container, ns, [{"id": "flaky", "text": "Lodz is in Poland. FLAKY_ONCE"}])
    assert job["status"] == "succeeded", job


def test_failed_document_can_be_retried_by_reposting(llm_client, llm_container, fake_llm, ns):
    doc = {"id": "x", "text": "Poznan is in Poland. FLAKY_ONCE FLAKY_ONCE"}
    llm_container.settings.llm.max_retries = 0
    first = _ingest(llm_client, llm_container, ns, [doc])
    assert first["status"] == "failed"
    llm_container.settings.llm.max_retries = 1
    second = _ingest(llm_client, llm_container, ns, [doc])
    assert second["id"] != first["id"] and second["status"] == "succeeded"


def test_answer_uses_the_reader(llm_client, llm_container, fake_llm, ns):
    _ingest(llm_client, llm_container, ns, [GOOD])
    fake_llm.answers["capital of Poland"] = "Warsaw"
    r = llm_client.post(
        f"/v1/namespaces/{ns}/query", json={"query": "What is the capital of Poland?", "answer": True}
    )
    assert r.status_code == 200 and r.json()["answer"] == "Warsaw"
    reader = [q for q in fake_llm.requests if q["kind"] == "reader"]
    assert len(reader) == 1 and "Warsaw is the capital of Poland" in reader[0]["user"]


def test_llm_fact_filter_is_off_by_default_and_filters_when_on(llm_client, llm_container, fake_llm, ns):
    fake_llm.canned["Chopin lived"] = {
        "entities": ["Warsaw", "Poland", "Chopin"],
        "triples": [["Warsaw", "capital of", "Poland"], ["Chopin", "lived in", "Warsaw"]],
    }
    fake_llm.canned["DROP"] = {
        "entities": ["Krakow", "Vistula"],
        "triples": [["Krakow", "DROP near", "Vistula"]],
    }
    other = {"id": "other", "title": "Krakow", "text": "Krakow lies near the Vistula. DROP"}
    _ingest(llm_client, llm_container, ns, [GOOD, other])
    question = {"query": "Where did Chopin live?", "mode": "graph"}

    off = llm_client.post(f"/v1/namespaces/{ns}/query", json=question).json()
    assert fake_llm.count("filter") == 0
    assert any("drop" in f["text"].lower() for f in off["facts"])  # 3 facts linked, unfiltered

    llm_container.settings.retrieval.llm_fact_filter = True
    on = llm_client.post(f"/v1/namespaces/{ns}/query", json=question).json()
    assert fake_llm.count("filter") == 1
    assert on["facts"] and not any("drop" in f["text"].lower() for f in on["facts"])
    assert on["passages"][0]["document_id"] == "good" and on["fallback"] is None


def test_fact_filter_failure_degrades_to_unfiltered_facts(llm_client, llm_container, fake_llm, ns):
    _ingest(llm_client, llm_container, ns, [GOOD])
    llm_container.settings.retrieval.llm_fact_filter = True
    r = llm_client.post(f"/v1/namespaces/{ns}/query", json={"query": "Where did Chopin live FAIL_500?"})
    assert r.status_code == 200
    body = r.json()
    assert "fact filter failed" in body["fallback"] and body["facts"]
