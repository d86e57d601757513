"""Bad input gets a 4xx JSON body {"code", "detail"} — never a 500."""

from __future__ import annotations

import pytest


@pytest.fixture
def ns(client):
    client.post("/v1/namespaces", json={"name": "demo"})
    return "demo"


def _err(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "detail"} and body["code"]
    return body


def test_empty_text(client, ns):
    body = _err(client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [{"text": "   "}]}), 422)
    assert "empty" in body["detail"]


def test_no_documents(client, ns):
    _err(client.post(f"/v1/namespaces/{ns}/documents", json={"documents": []}), 422)


def test_document_over_size_limit(client, container, ns):
    container.settings.limits.max_document_chars = 100
    body = _err(client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [{"text": "x" * 101}]}), 422)
    assert "limit" in body["detail"]


def test_unknown_namespace(client):
    assert (
        _err(client.post("/v1/namespaces/nope/documents", json={"documents": [{"text": "a"}]}), 404)["code"]
        == "namespace_not_found"
    )
    _err(client.post("/v1/namespaces/nope/query", json={"query": "q"}), 404)
    _err(client.get("/v1/namespaces/nope/stats"), 404)
    _err(client.get("/v1/namespaces/nope/documents"), 404)
    _err(client.delete("/v1/namespaces/nope"), 404)


def test_unknown_job_and_document(client, ns):
    assert _err(client.get("/v1/jobs/does-not-exist"), 404)["code"] == "job_not_found"
    _err(client.post("/v1/jobs/does-not-exist/cancel"), 404)
    assert _err(client.get(f"/v1/namespaces/{ns}/documents/missing"), 404)["code"] == "document_not_found"
    _err(client.delete(f"/v1/namespaces/{ns}/documents/missing"), 404)


@pytest.mark.parametrize("top_k", [0, -1, 201, 10_000])
def test_top_k_out_of_range(client, ns, top_k):
    _err(client.post(f"/v1/namespaces/{ns}/query", json={"query": "q", "top_k": top_k}), 422)


def test_malformed_json(client, ns):
    r = client.post(
        f"/v1/namespaces/{ns}/documents",
        content=b'{"documents": [',
        headers={"Content-Type": "application/json"},
    )
    assert _err(r, 400)["code"] == "malformed_json"


def test_unknown_fields_and_bad_mode(client, ns):
    _err(client.post(f"/v1/namespaces/{ns}/query", json={"query": "q", "mode": "magic"}), 422)
    _err(client.post(f"/v1/namespaces/{ns}/documents", json={"docs": []}), 422)


def test_bad_namespace_name(client):
    _err(client.post("/v1/namespaces", json={"name": "has space"}), 422)
    _err(client.post("/v1/namespaces", json={"name": "../etc"}), 422)


def test_answer_without_llm_is_503(client, ns):
    body = _err(client.post(f"/v1/namespaces/{ns}/query", json={"query": "q", "answer": True}), 503)
    assert body["code"] == "llm_not_configured"


def test_bad_openie_import(client, ns):
    _err(
        client.post(
            f"/v1/namespaces/{ns}/imports/openie",
            content=b"not json",
            headers={"Content-Type": "application/json"},
        ),
        422,
    )
    _err(client.post(f"/v1/namespaces/{ns}/imports/openie", json={"docs": []}), 422)
    _err(client.post(f"/v1/namespaces/{ns}/imports/openie", json={"docs": [{"title": "x"}]}), 422)


def test_import_over_byte_limit(client, container, ns):
    container.settings.limits.max_import_bytes = 50
    _err(
        client.post(
            f"/v1/namespaces/{ns}/imports/openie", json={"docs": [{"title": "t", "text": "x" * 100}]}
        ),
        413,
    )


def test_unknown_route(client):
    _err(client.get("/v1/nothing-here"), 404)
