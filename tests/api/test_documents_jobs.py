"""API tests of ingestion, jobs and documents against real SQLite and the real embedder."""

from __future__ import annotations

from tests.conftest import assert_utc, drain

DOCS = [
    {
        "title": "Marie Curie",
        "text": "Marie Curie was born in Warsaw. Marie Curie won the Nobel Prize in Physics.",
    },
    {
        "id": "warsaw",
        "title": "Warsaw",
        "text": "Warsaw is the capital of Poland. Warsaw lies on the Vistula.",
    },
]


def _create_ns(client, name="demo"):
    r = client.post("/v1/namespaces", json={"name": name})
    assert r.status_code == 201, r.text
    return name


def test_ingest_poll_and_read_back(client, container):
    ns = _create_ns(client)
    r = client.post(f"/v1/namespaces/{ns}/documents", json={"documents": DOCS})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["document_ids"][1] == "warsaw" and body["document_ids"][0].startswith("doc-")
    job = client.get(f"/v1/jobs/{body['job_id']}").json()
    assert job["status"] == "queued" and job["progress"] == {"done": 0, "total": 2, "failed": 0}

    assert drain(container) == 1
    job = client.get(f"/v1/jobs/{body['job_id']}").json()
    assert job["status"] == "succeeded" and job["progress"]["done"] == 2 and job["errors"] == []

    doc = client.get(f"/v1/namespaces/{ns}/documents/warsaw").json()
    assert doc["status"] == "indexed" and doc["title"] == "Warsaw" and doc["job_id"] == body["job_id"]
    namespace = client.get(f"/v1/namespaces/{ns}").json()
    assert_utc(doc["created_at"], doc["updated_at"], job["created_at"], job["finished_at"])
    assert_utc(namespace["created_at"])
    listing = client.get(f"/v1/namespaces/{ns}/documents", params={"limit": 1}).json()
    assert listing["total"] == 2 and len(listing["documents"]) == 1
    page2 = client.get(f"/v1/namespaces/{ns}/documents", params={"limit": 1, "offset": 1}).json()
    assert page2["documents"][0]["id"] != listing["documents"][0]["id"]

    stats = client.get(f"/v1/namespaces/{ns}/stats").json()
    assert stats["documents"] == 2 and stats["passages"] == 2
    assert stats["entities"] > 0 and stats["facts"] > 0


def test_reposting_identical_content_creates_nothing(client, container):
    ns = _create_ns(client)
    first = client.post(f"/v1/namespaces/{ns}/documents", json={"documents": DOCS}).json()
    drain(container)
    before = client.get(f"/v1/namespaces/{ns}/stats").json()
    again = client.post(f"/v1/namespaces/{ns}/documents", json={"documents": DOCS})
    assert again.status_code == 202
    assert again.json() == first  # same document ids AND the same job
    assert drain(container) == 0  # nothing was queued
    assert client.get(f"/v1/namespaces/{ns}/stats").json() == before
    assert client.get("/v1/jobs", params={"namespace": ns}).json()["total"] == 1
    # Only the metadata changed: it is updated in place, nothing is re-indexed.
    relabelled = [{**DOCS[1], "metadata": {"source": "atlas", "page": 7}}]
    assert (
        client.post(f"/v1/namespaces/{ns}/documents", json={"documents": relabelled}).json()["job_id"]
        == (first["job_id"])
    )
    assert drain(container) == 0
    doc = client.get(f"/v1/namespaces/{ns}/documents/warsaw").json()
    assert doc["metadata"] == {"source": "atlas", "page": 7} and doc["status"] == "indexed"


def test_generated_ids_make_near_duplicates_one_document(client, container):
    """Without a caller id, identity is the normalized content: a copy that differs only in case
    or spacing is the same document (same id, same job), not a conflict."""
    ns = _create_ns(client)
    first = client.post(
        f"/v1/namespaces/{ns}/documents", json={"documents": [{"text": "Oslo is in Norway."}]}
    )
    again = client.post(
        f"/v1/namespaces/{ns}/documents", json={"documents": [{"text": "OSLO  is in Norway.\n"}]}
    )
    assert again.status_code == 202 and again.json() == first.json()
    both = client.post(
        f"/v1/namespaces/{ns}/documents",
        json={"documents": [{"text": "Lima is in Peru."}, {"text": "LIMA is in Peru."}]},
    )
    ids = both.json()["document_ids"]
    assert both.status_code == 202 and len(ids) == 2 and ids[0] == ids[1]  # one id per submitted document


def test_same_id_with_different_content_is_a_conflict(client, container):
    ns = _create_ns(client)
    client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [DOCS[1]]})
    r = client.post(
        f"/v1/namespaces/{ns}/documents",
        json={"documents": [{"id": "warsaw", "text": "Something else entirely."}]},
    )
    assert r.status_code == 409 and r.json()["code"] == "conflict"


def test_long_documents_are_split_into_passages(client, container):
    ns = _create_ns(client)
    container.settings.extraction.max_passage_words = 20
    sentence = "Ada Lovelace wrote about the Analytical Engine of Charles Babbage in London. "
    client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [{"text": sentence * 6}]})
    drain(container)
    assert client.get(f"/v1/namespaces/{ns}/stats").json()["passages"] == 6


def test_delete_document_restores_stats_exactly(client, container):
    ns = _create_ns(client)
    client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [DOCS[0]]})
    drain(container)
    before = client.get(f"/v1/namespaces/{ns}/stats").json()
    extra = {
        "id": "extra",
        "title": "Pierre Curie",
        "text": "Pierre Curie married Marie Curie in Sceaux. Pierre Curie taught at the Sorbonne in Paris.",
    }
    client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [extra]})
    drain(container)
    during = client.get(f"/v1/namespaces/{ns}/stats").json()
    assert during["passages"] == before["passages"] + 1 and during["entities"] > before["entities"]
    assert client.delete(f"/v1/namespaces/{ns}/documents/extra").status_code == 204
    assert client.get(f"/v1/namespaces/{ns}/stats").json() == before
    assert client.get(f"/v1/namespaces/{ns}/documents/extra").status_code == 404


def test_job_list_and_cancel(client, container):
    ns = _create_ns(client)
    job_id = client.post(f"/v1/namespaces/{ns}/documents", json={"documents": DOCS}).json()["job_id"]
    listed = client.get("/v1/jobs", params={"namespace": ns, "status": "queued"}).json()
    assert [j["id"] for j in listed["jobs"]] == [job_id]
    assert listed["jobs"][0]["cancel_requested"] is False
    cancelled = client.post(f"/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_requested"] is True
    assert drain(container) == 0
    assert client.get(f"/v1/namespaces/{ns}/documents/warsaw").json()["status"] == "cancelled"
    again = client.post(f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409
    # Re-posting cancelled documents queues them again.
    retry = client.post(f"/v1/namespaces/{ns}/documents", json={"documents": DOCS}).json()
    assert retry["job_id"] != job_id
    drain(container)
    assert client.get(f"/v1/jobs/{retry['job_id']}").json()["status"] == "succeeded"


def test_namespace_lifecycle_and_cascade(client, container):
    ns = _create_ns(client, "to-delete")
    assert client.post("/v1/namespaces", json={"name": ns}).status_code == 409
    assert [n["name"] for n in client.get("/v1/namespaces").json()["namespaces"]] == [ns]
    assert client.get(f"/v1/namespaces/{ns}").json()["name"] == ns
    job_id = client.post(f"/v1/namespaces/{ns}/documents", json={"documents": DOCS}).json()["job_id"]
    drain(container)
    assert client.delete(f"/v1/namespaces/{ns}").status_code == 204
    assert client.get(f"/v1/namespaces/{ns}").status_code == 404
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert container.graph.stats(ns).passages == 0 and container.graph.stats(ns).entities == 0
    _create_ns(client, "to-delete")  # the name is free again, and empty
    assert client.get(f"/v1/namespaces/{ns}/stats").json()["documents"] == 0


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_query_modes_rank_the_obvious_passage_first(client, container):
    ns = _create_ns(client)
    client.post(f"/v1/namespaces/{ns}/documents", json={"documents": DOCS})
    drain(container)
    for mode in ("graph", "dense", "bm25"):
        r = client.post(
            f"/v1/namespaces/{ns}/query", json={"query": "What is the capital of Poland?", "mode": mode}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["mode"] == mode and body["passages"][0]["document_id"] == "warsaw", (mode, body)
        assert body["timings_ms"]["total"] > 0
        if mode == "graph":
            assert body["facts"] and body["entities"] and body["fallback"] is None
    # A lexical ranking returns only passages that share a word with the query.
    none = client.post(f"/v1/namespaces/{ns}/query", json={"query": "zebra xylophone", "mode": "bm25"}).json()
    assert none["passages"] == []


def test_job_status_reads_leave_the_payload_alone(client, container, monkeypatch):
    """An import job's payload holds every passage's extraction: reading a job's status (polled
    by clients all through an import) must not parse it; the worker that claims it does."""
    from service.domain.records import IngestPayload

    client.post("/v1/namespaces", json={"name": "ns"})
    openie = {
        "docs": [
            {
                "passage": "Warsaw\nWarsaw is on the Vistula.",
                "extracted_entities": ["Warsaw"],
                "extracted_triples": [["Warsaw", "is on", "Vistula"]],
            }
        ]
    }
    job_id = client.post("/v1/namespaces/ns/imports/openie", json=openie).json()["job_id"]
    parsed = []
    original = IngestPayload.from_json.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        IngestPayload, "from_json", classmethod(lambda cls, data: parsed.append(1) or original(cls, data))
    )
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    assert client.get("/v1/jobs", params={"namespace": "ns"}).json()["total"] == 1
    assert container.jobs.get(job_id).payload is None and container.jobs.done_count([job_id]) == 0
    assert parsed == []
    drain(container)
    assert len(parsed) == 1  # the claim
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
