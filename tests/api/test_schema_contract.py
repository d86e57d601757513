"""What schemathesis found (tests/integration/test_schemathesis.py), held here at unit speed:
the schema states the rules the service enforces, and the service answers as the schema says.
"""

from __future__ import annotations

import re

import pytest

from service.api.schemas import (
    DOCUMENT_ID_PATTERN,
    NAMESPACE_NAME_PATTERN,
    NOT_BLANK_PATTERN,
    DocumentIn,
)
from service.domain.normalize import is_blank
from service.stores.sql.documents import NAMESPACE_PATTERN


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/namespaces", "GET, POST"),
        ("/v1/namespaces/demo", "DELETE, GET"),
        ("/v1/namespaces/demo/documents/a/b", "DELETE, GET"),
        ("/v1/keys/abc", "DELETE, GET"),
        ("/healthz", "GET"),
    ],
)
def test_405_names_every_method_of_the_path(client, path, allow):
    # Starlette named only the first route matching the path, and the error handler dropped it.
    r = client.request("TRACE", path)
    assert r.status_code == 405 and r.headers["allow"] == allow
    assert r.json()["code"] == "method_not_allowed"


def test_integers_and_booleans_are_json_ones(client):
    client.post("/v1/namespaces", json={"name": "demo"})
    for bad in ({"top_k": True}, {"top_k": "5"}, {"answer": 1}, {"answer": "true"}):
        r = client.post("/v1/namespaces/demo/query", json={"query": "Warsaw", **bad})
        assert r.status_code == 422, (bad, r.text)
    # 5.0 is an integer to JSON Schema.
    assert client.post("/v1/namespaces/demo/query", json={"query": "Warsaw", "top_k": 5.0}).status_code == 200
    key = {"name": "k", "scope": "read", "namespaces": ["a"], "requests_per_minute": False}
    r = client.post("/v1/keys", json=key)
    assert r.status_code == 422, r.text


def test_documented_patterns_match_the_validators():
    names = ["a", "A-b_c.d", "0", "x" * 64, "x" * 65, "", ".a", "-a", "a b", "ops\n", "é"]
    for name in names:
        assert bool(re.search(NAMESPACE_NAME_PATTERN, name)) == bool(NAMESPACE_PATTERN.fullmatch(name)), name
    texts = ["a", " a ", "", " \n\t ", "\u200b", "\u00a0\u3000", "\ufeff ", "\u200bx", "é"]
    for text in texts:
        assert bool(re.search(NOT_BLANK_PATTERN, text)) == (not is_blank(text)), repr(text)
    ids = ["a", "a/b", ".a", "...", "a/.b", ".", "..", "a/./b", "a/..", "../x", " ", "a\tb", "a\x85", "x "]
    ids.append("a\n")
    for doc_id in ids:
        try:
            DocumentIn(id=doc_id, text="t")
            valid = True
        except ValueError:
            valid = False
        assert bool(re.search(DOCUMENT_ID_PATTERN, doc_id)) == valid, repr(doc_id)


def test_bodies_document_413(client):
    schema = client.get("/openapi.json").json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert "413" in operation["responses"], f"{method.upper()} {path}"


def test_a_route_without_an_access_rule_stops_the_app(client, monkeypatch):
    # FastAPI 0.16x keeps included routers whole in app.routes: the check must still see inside.
    from service.api import access

    monkeypatch.delitem(access.RULES, "getKey")
    with pytest.raises(RuntimeError, match="getKey"):
        access.check_rules(client.app)


def test_openie_import_reads_passage_when_text_is_blank(client):
    # The schema says: a non-blank 'text', else a non-blank 'passage'; blank as is_blank judges.
    client.post("/v1/namespaces", json={"name": "demo"})
    doc = {"title": "W", "text": "\u200b", "passage": "W\nWarsaw is in Poland.", "extracted_triples": [[{}]]}
    r = client.post("/v1/namespaces/demo/imports/openie", json={"docs": [doc]})
    assert r.status_code == 202, r.text
    assert client.get(f"/v1/namespaces/demo/documents/{r.json()['document_ids'][0]}").json()["text"] == (
        "Warsaw is in Poland."
    )
