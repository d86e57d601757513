"""Bad input gets a 4xx JSON body {"code", "detail"} — never a 500."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.conftest import drain


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
    body = _err(client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [{"text": "x" * 101}]}), 413)
    assert "limit" in body["detail"] and body["code"] == "payload_too_large"


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


def test_answer_without_llm_is_422(client, ns):
    # Not 503: no retry will help until an operator configures an LLM.
    body = _err(client.post(f"/v1/namespaces/{ns}/query", json={"query": "q", "answer": True}), 422)
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


def _post_raw(client, path, body: bytes):
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


def test_document_id_with_slashes_is_reachable(client, container, ns):
    doc_id = "https://example.org/a/b"
    r = client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [{"id": doc_id, "text": "Hello."}]})
    assert r.status_code == 202 and r.json()["document_ids"] == [doc_id], r.text
    drain(container)
    for path in (quote(doc_id, safe=""), doc_id):
        got = client.get(f"/v1/namespaces/{ns}/documents/{path}")
        assert got.status_code == 200 and got.json()["id"] == doc_id, got.text
    assert client.delete(f"/v1/namespaces/{ns}/documents/{quote(doc_id, safe='')}").status_code == 204
    _err(client.get(f"/v1/namespaces/{ns}/documents/{doc_id}"), 404)

    client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [{"id": doc_id, "text": "Hello."}]})
    drain(container)
    assert client.delete(f"/v1/namespaces/{ns}/documents/{doc_id}").status_code == 204
    assert _err(client.get(f"/v1/namespaces/{ns}/documents/{quote(doc_id, safe='')}"), 404)["code"] == (
        "document_not_found"
    )


@pytest.mark.parametrize(
    "doc_id", ["", "   ", "a\nb", "a\x00b", "tab\there", "del\x7f", "..", "a/../b", "./x", "x" * 201]
)
def test_bad_document_id(client, ns, doc_id):
    r = client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [{"id": doc_id, "text": "t"}]})
    assert _err(r, 422)["code"] == "validation_error"


@pytest.mark.parametrize("field", ["id", "title", "text"])
def test_lone_surrogate_in_document_fields(client, ns, field):
    body = json.dumps({"documents": [{"text": "fine", field: "bad \ud800"}]})  # ASCII: "\\ud800"
    _err(_post_raw(client, f"/v1/namespaces/{ns}/documents", body.encode()), 422)


@pytest.mark.parametrize(
    ("metadata", "needle"),
    [
        (b'{"k": "\\ud800"}', "surrogate"),
        (b'{"\\udfff": 1}', "surrogate"),
        (b'{"k": ["ok", {"deeper": "\\ud800"}]}', "surrogate"),
        (b'{"k": ' + b"[" * 400 + b"]" * 400 + b"}", "nested deeper than 32"),
        (b'{"k": ' + b"[" * 32 + b"]" * 32 + b"}", "nested deeper than 32"),
        (b'{"k": "' + b"x" * (64 * 1024) + b'"}', "bytes as JSON"),
        (b'{"k": NaN}', "finite"),
        (b'{"k": "a\\u0000b"}', "NUL"),
    ],
)
def test_bad_metadata_is_422_and_nothing_is_stored(client, ns, metadata, needle):
    r = _post_raw(
        client, f"/v1/namespaces/{ns}/documents", b'{"documents": [{"text": "t", "metadata": %s}]}' % metadata
    )
    body = _err(r, 422)
    assert needle in body["detail"][0]["msg"] and body["detail"][0]["loc"][-1] == "metadata"
    listing = client.get(f"/v1/namespaces/{ns}/documents")
    assert listing.status_code == 200 and listing.json()["total"] == 0


def test_metadata_at_the_limits_round_trips(client, ns):
    from service.api.schemas import MAX_METADATA_DEPTH

    deep: dict = {}
    node = deep
    for _ in range(MAX_METADATA_DEPTH - 3):
        node["n"] = {}
        node = node["n"]
    node["list"] = ["leaf"]  # metadata is level 1, "deep" level 2, the innermost dict 31, this list 32
    metadata = {"deep": deep, "text": "ünïcode ✓"}
    r = client.post(
        f"/v1/namespaces/{ns}/documents", json={"documents": [{"id": "m", "text": "t", "metadata": metadata}]}
    )
    assert r.status_code == 202, r.text
    assert client.get(f"/v1/namespaces/{ns}/documents/m").json()["metadata"] == metadata
    assert client.get(f"/v1/namespaces/{ns}/documents").status_code == 200


@pytest.mark.parametrize("offset", ["9223372036854775808", str(2**62 + 1), "-1"])
def test_offset_out_of_range(client, ns, offset):
    _err(client.get(f"/v1/namespaces/{ns}/documents", params={"offset": offset}), 422)
    _err(client.get("/v1/jobs", params={"offset": offset}), 422)


def test_largest_offset_is_an_empty_page(client, ns):
    r = client.get(f"/v1/namespaces/{ns}/documents", params={"offset": 2**62})
    assert r.status_code == 200 and r.json()["documents"] == []
    r = client.get("/v1/jobs", params={"offset": 2**62})
    assert r.status_code == 200 and r.json()["jobs"] == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"docs":[{"text":"x","extracted_entities":5}]}', "docs[0].extracted_entities"),
        (b'{"docs":[{"text":"x"},{"text":"y","extracted_triples":7}]}', "docs[1].extracted_triples"),
        (b'{"docs":[{"text":"x","extracted_entities":"abc"}]}', "docs[0].extracted_entities"),
        (b'{"docs":[{"text":"x\\ud800"}]}', "docs[0].text"),
        (b'{"docs":[{"passage":"x\\ud800"}]}', "docs[0].passage"),
        (b'{"docs":[{"title":"t\\ud800","text":"x"}]}', "docs[0].title"),
        (b'{"docs":[{"text":"x","extracted_entities":["\\ud800"]}]}', "docs[0].extracted_entities[0]"),
        (
            b'{"docs":[{"text":"x","extracted_triples":[["a","b","\\ud800"]]}]}',
            "docs[0].extracted_triples[0][2]",
        ),
        (b'{"docs":[{"text":"x","title":5}]}', "docs[0].title"),
        (b'{"docs":[{"text":5}]}', "docs[0]"),
        (b'{"docs":' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
        (b'{"docs":[{"text":"\xff"}]}', "not UTF-8"),
        (b'{"docs":[{"text":"x","n":' + b"9" * 5000 + b"}]}", "not valid JSON"),
    ],
)
def test_malformed_openie_import(client, ns, body, needle):
    r = _post_raw(client, f"/v1/namespaces/{ns}/imports/openie", body)
    detail = _err(r, 422)["detail"]
    assert needle in detail, detail


def test_namespace_name_with_trailing_newline(client):
    _err(client.post("/v1/namespaces", json={"name": "ops\n"}), 422)
    _err(client.post("/v1/namespaces", json={"name": "ops\r\n"}), 422)
    assert client.post("/v1/namespaces", json={"name": "ops"}).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        b'{"documents": [{"text": "caf\xe9"}]}',
        b'{"documents": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
)
def test_unparseable_body_is_malformed_json(client, ns, body):
    assert _err(_post_raw(client, f"/v1/namespaces/{ns}/documents", body), 400)["code"] == "malformed_json"


@pytest.mark.parametrize("blank", [" \n\t ", "\u200b", "\u00a0\u3000", "\ufeff "])
def test_blank_query_and_text_are_422(client, ns, blank):
    body = _err(client.post(f"/v1/namespaces/{ns}/query", json={"query": blank}), 422)
    assert "blank" in json.dumps(body["detail"])
    _err(client.post(f"/v1/namespaces/{ns}/documents", json={"documents": [{"text": blank}]}), 422)


def test_database_busy_is_503_not_500(tmp_path, embedder):
    """The write lock not granted within the busy timeout (another process holds it) is a
    retryable 503, on the real SQLite file."""
    import sqlite3

    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.container import Container
    from tests.conftest import make_settings

    c = Container.from_settings(
        make_settings(tmp_path, database={"sqlite_busy_timeout_ms": 200}), embedder=embedder
    )
    c.migrate()
    with TestClient(create_app(c, run_worker=False, migrate=False)) as client:
        holder = sqlite3.connect(tmp_path / "hippograph.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            body = _err(client.post("/v1/namespaces", json={"name": "busy"}), 503)
            assert body["code"] == "database_unavailable"
            assert client.get("/v1/namespaces").status_code == 200  # reads still work
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert client.post("/v1/namespaces", json={"name": "busy"}).status_code == 201
