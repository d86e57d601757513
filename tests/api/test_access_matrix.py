"""Who may call what, generated from ``openapi.yaml``: every operation x {no key, wrong key,
revoked key, another namespace's key, read, write, namespace-admin and admin key}, each
answered with the status this table expects. The table is written here, independently of the
service's rules (``service/api/access.py``): an operation in ``openapi.yaml`` that is missing
from it fails the test, so a new route cannot ship without someone deciding who may call it."""

from __future__ import annotations

import itertools
import json
import secrets
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import Container
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parents[2]
ADMIN_KEY = "admin-" + secrets.token_hex(16)
PRINCIPALS = ["none", "wrong", "revoked", "other", "read", "write", "ns_admin", "admin"]

# Statuses a principal gets, per operation. U: 401 for no, wrong and revoked keys everywhere
# but the public checks.
U = {"none": 401, "wrong": 401, "revoked": 401}


def _row(other: int, read: int, write: int, ns_admin: int, admin: int) -> dict[str, int]:
    return {**U, "other": other, "read": read, "write": write, "ns_admin": ns_admin, "admin": admin}


EXPECTED: dict[str, dict[str, int]] = {
    "health": dict.fromkeys(PRINCIPALS, 200),
    "ready": dict.fromkeys(PRINCIPALS, 200),
    # another namespace's key, or a key without admin scope, may not create "a2" (403, whether
    # or not the name exists); the namespace admin bound to it and the admin may
    "createNamespace": _row(403, 403, 403, 201, 201),
    "listNamespaces": _row(200, 200, 200, 200, 200),
    "getNamespace": _row(404, 200, 200, 200, 200),
    "deleteNamespace": _row(404, 403, 403, 204, 204),
    "getNamespaceStats": _row(404, 200, 200, 200, 200),
    "addDocuments": _row(404, 403, 202, 202, 202),
    "importOpenIE": _row(404, 403, 202, 202, 202),
    "listDocuments": _row(404, 200, 200, 200, 200),
    "getDocument": _row(404, 200, 200, 200, 200),
    "deleteDocument": _row(404, 403, 204, 204, 204),
    "query": _row(404, 200, 200, 200, 200),
    "listJobs": _row(200, 200, 200, 200, 200),
    "getJob": _row(404, 200, 200, 200, 200),
    "cancelJob": _row(404, 403, 200, 200, 200),
    "createKey": _row(403, 403, 403, 403, 201),
    "listKeys": _row(403, 403, 403, 403, 200),
    "getKey": _row(403, 403, 403, 403, 200),
    "revokeKey": _row(403, 403, 403, 403, 200),
    "metrics": _row(403, 403, 403, 403, 200),  # public only with metrics.public (test_metrics.py)
}


def _operations() -> list[tuple[str, str, str]]:
    spec = yaml.safe_load((REPO / "openapi.yaml").read_text())
    return [
        (op["operationId"], method.upper(), path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    ]


def test_every_operation_in_openapi_has_an_expected_row():
    missing = sorted({op for op, _, _ in _operations()} - EXPECTED.keys())
    assert not missing, f"add these operations to EXPECTED (who may call them?): {missing}"
    assert not EXPECTED.keys() - {op for op, _, _ in _operations()}, "EXPECTED names operations that are gone"


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder):
    """One service with keys on, namespaces ``a`` (the target) and ``b``, and the keys."""
    settings = make_settings(
        tmp_path_factory.mktemp("access"),
        auth={"admin_key": ADMIN_KEY},
        # every case queues a job and nothing runs them: the quotas and rates have their own tests
        limits={"max_queued_jobs_per_namespace": 0, "requests_per_minute": 0},
    )
    container = Container.from_settings(settings, embedder=embedder)
    container.migrate()
    with TestClient(create_app(container, run_worker=False, migrate=False)) as client:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

        def key(scope: str, namespaces: list[str], name: str) -> str:
            r = client.post(
                "/v1/keys", json={"name": name, "scope": scope, "namespaces": namespaces}, headers=admin
            )
            assert r.status_code == 201, r.text
            return r.json()["key"]

        revoked = key("admin", ["a", "a2"], "revoked")
        revoked_id = revoked.split("_")[1]
        assert client.delete(f"/v1/keys/{revoked_id}", headers=admin).status_code == 200
        tokens = {
            "none": None,
            "wrong": "hgk_" + "0" * 12 + "_" + "x" * 43,
            "revoked": revoked,
            "other": key("admin", ["b"], "other"),
            "read": key("read", ["a", "a2"], "read"),
            "write": key("write", ["a", "a2"], "write"),
            "ns_admin": key("admin", ["a", "a2"], "ns-admin"),
            "admin": ADMIN_KEY,
        }
        for ns in ("a", "b"):
            assert client.post("/v1/namespaces", json={"name": ns}, headers=admin).status_code in (201, 409)
        yield client, tokens, admin, revoked_id
    container.close()


_counter = itertools.count()


def _request(client: TestClient, admin: dict, op: str, method: str, path: str, revoked_id: str):
    """A request for the operation on namespace ``a`` (fresh targets where a success would use
    them up); returns (method, url, json body or raw bytes)."""
    n = next(_counter)
    client.post("/v1/namespaces", json={"name": "a"}, headers=admin)  # recreated after a delete
    doc = client.post(
        "/v1/namespaces/a/documents",
        json={"documents": [{"id": f"d{n}", "text": f"Text number {n}."}]},
        headers=admin,
    ).json()
    params = {"namespace": "a", "document_id": f"d{n}", "job_id": doc["job_id"], "key_id": revoked_id}
    url = path.format(**params)
    body: object = None
    if op == "createNamespace":
        client.delete("/v1/namespaces/a2", headers=admin)
        body = {"name": "a2"}
    elif op == "addDocuments":
        body = {"documents": [{"text": f"Another text {n}."}]}
    elif op == "importOpenIE":
        body = json.dumps(
            {
                "docs": [
                    {
                        "title": f"T{n}",
                        "text": f"Warsaw is in Poland {n}.",
                        "extracted_entities": [],
                        "extracted_triples": [],
                    }
                ]
            }
        ).encode()
    elif op == "query":
        body = {"query": "Where is Warsaw?", "top_k": 3}
    elif op == "createKey":
        body = {"name": "made", "scope": "read", "namespaces": ["a"]}
    return method, url, body


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("op,method,path", _operations(), ids=[o[0] for o in _operations()])
def test_access(world, op, method, path, principal):
    client, tokens, admin, revoked_id = world
    method, url, body = _request(client, admin, op, method, path, revoked_id)
    headers = {"Authorization": f"Bearer {tokens[principal]}"} if tokens[principal] else {}
    if isinstance(body, bytes):
        r = client.request(method, url, content=body, headers={**headers, "Content-Type": "application/json"})
    else:
        r = client.request(method, url, json=body, headers=headers)
    assert r.status_code == EXPECTED[op][principal], (op, principal, r.status_code, r.text)
    if r.status_code >= 400:
        assert set(r.json()) == {"code", "detail"}
    if r.status_code == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
