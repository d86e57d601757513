"""Keys on: identities, isolation between tenants, limits. Real SQLite, the real app."""

from __future__ import annotations

import logging
import secrets

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth.exposure import UnsafeBind, check_exposure
from service.container import Container
from service.settings import AuthSettings
from tests.conftest import make_settings

ADMIN_KEY = "admin-" + secrets.token_hex(16)
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _client(tmp_path, embedder, **overrides):
    settings = make_settings(tmp_path, auth={"admin_key": ADMIN_KEY}, **overrides)
    container = Container.from_settings(settings, embedder=embedder)
    container.migrate()
    return container, TestClient(create_app(container, run_worker=False, migrate=False))


@pytest.fixture
def service(tmp_path, embedder):
    container, client = _client(tmp_path, embedder)
    with client:
        yield container, client
    container.close()


def _key(client, scope, namespaces, **extra):
    r = client.post(
        "/v1/keys", json={"name": "t", "scope": scope, "namespaces": namespaces, **extra}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}, r.json()


def test_a_key_of_a_gets_404_on_every_route_of_b_exactly_as_if_b_did_not_exist(service):
    _, client = service
    for ns in ("a", "b"):
        assert client.post("/v1/namespaces", json={"name": ns}, headers=ADMIN).status_code == 201
    sub = client.post(
        "/v1/namespaces/b/documents",
        json={"documents": [{"id": "secret", "text": "B's secret."}]},
        headers=ADMIN,
    ).json()
    key_a, _ = _key(client, "admin", ["a"])
    routes = [
        ("GET", "/v1/namespaces/{ns}", None),
        ("GET", "/v1/namespaces/{ns}/stats", None),
        ("GET", "/v1/namespaces/{ns}/documents", None),
        ("GET", "/v1/namespaces/{ns}/documents/secret", None),
        ("DELETE", "/v1/namespaces/{ns}/documents/secret", None),
        ("POST", "/v1/namespaces/{ns}/documents", {"documents": [{"text": "x"}]}),
        ("POST", "/v1/namespaces/{ns}/query", {"query": "secret"}),
        ("DELETE", "/v1/namespaces/{ns}", None),
    ]
    for method, path, body in routes:
        real = client.request(method, path.format(ns="b"), json=body, headers=key_a)
        missing = client.request(method, path.format(ns="nope"), json=body, headers=ADMIN)
        assert real.status_code == 404, (method, path, real.text)
        # the same answer as a namespace that does not exist, but for its name
        assert real.json() == {**missing.json(), "detail": missing.json()["detail"].replace("nope", "b")}
    job = client.get(f"/v1/jobs/{sub['job_id']}", headers=key_a)
    ghost = client.get("/v1/jobs/00000000-0000-0000-0000-000000000000", headers=key_a)
    assert (
        job.status_code == ghost.status_code == 404
        and job.json()["code"] == ghost.json()["code"] == "job_not_found"
    )
    assert client.post(f"/v1/jobs/{sub['job_id']}/cancel", headers=key_a).status_code == 404
    # listings show only what the key may see
    assert [n["name"] for n in client.get("/v1/namespaces", headers=key_a).json()["namespaces"]] == ["a"]
    assert client.get("/v1/jobs", headers=key_a).json()["total"] == 0
    assert client.get("/v1/jobs", params={"namespace": "b"}, headers=key_a).json()["jobs"] == []
    assert client.get("/v1/jobs", headers=ADMIN).json()["total"] == 1
    # b is untouched
    assert client.get("/v1/namespaces/b/documents/secret", headers=ADMIN).status_code == 200


def test_unauthenticated_and_bad_credentials_get_401(service):
    _, client = service
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
    ):
        r = client.get("/v1/namespaces", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/healthz").status_code == 200  # health checks stay public


def test_keys_are_shown_once_stored_as_hashes_never_logged_and_revocable(service, caplog):
    container, client = service
    caplog.set_level(logging.DEBUG)
    headers, made = _key(client, "read", ["a"])
    token = headers["Authorization"].split()[1]
    assert token.startswith("hgk_") and made["id"] in token
    assert client.get("/v1/namespaces", headers=headers).status_code == 200
    listed = client.get("/v1/keys", headers=ADMIN).json()["keys"]
    assert [k["id"] for k in listed] == [made["id"]] and "key" not in listed[0]
    with container.engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM api_keys")) for v in row)
    secret = token.split("_", 2)[2]
    assert secret not in dump and token not in dump
    assert all(token not in r.getMessage() and secret not in r.getMessage() for r in caplog.records)
    assert client.delete(f"/v1/keys/{made['id']}", headers=ADMIN).json()["revoked_at"]
    assert client.get("/v1/namespaces", headers=headers).status_code == 401
    assert client.get("/v1/keys", headers=ADMIN).json()["keys"] == []
    assert len(client.get("/v1/keys", params={"include_revoked": True}, headers=ADMIN).json()["keys"]) == 1


def test_a_read_key_reads_and_queries_but_may_not_write(service):
    _, client = service
    client.post("/v1/namespaces", json={"name": "a"}, headers=ADMIN)
    read, _ = _key(client, "read", ["a"])
    assert client.post("/v1/namespaces/a/query", json={"query": "x"}, headers=read).status_code == 200
    r = client.post("/v1/namespaces/a/documents", json={"documents": [{"text": "x"}]}, headers=read)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_rate_limit_answers_429_with_retry_after(service):
    _, client = service
    limited, _ = _key(client, "read", ["a"], requests_per_minute=3)
    statuses = [client.get("/v1/namespaces", headers=limited).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = client.get("/v1/namespaces", headers=limited)
    assert r.json()["code"] == "rate_limited" and 1 <= int(r.headers["Retry-After"]) <= 60
    assert client.get("/v1/namespaces", headers=ADMIN).status_code == 200  # other keys unaffected


def test_namespace_quotas_documents_bytes_and_queued_jobs(tmp_path, embedder):
    container, client = _client(
        tmp_path,
        embedder,
        limits={
            "max_documents_per_namespace": 3,
            "max_bytes_per_namespace": 40,
            "max_queued_jobs_per_namespace": 2,
        },
    )
    with client:
        client.post("/v1/namespaces", json={"name": "a"}, headers=ADMIN)

        def post(*texts):
            return client.post(
                "/v1/namespaces/a/documents", json={"documents": [{"text": t} for t in texts]}, headers=ADMIN
            )

        assert post("one two", "thr").status_code == 202
        r = post("four", "five")  # 4 documents > 3
        assert r.status_code == 429 and r.json()["code"] == "namespace_full"
        r = post("é" * 20)  # 40 UTF-8 bytes: 10 + 40 > 40
        assert r.status_code == 429 and r.json()["code"] == "namespace_full" and "bytes" in r.json()["detail"]
        assert post("six").status_code == 202  # 3 documents, 13 bytes, 2 jobs queued
        r = post("seven")  # two jobs queued: the job quota speaks first
        assert r.status_code == 429 and r.json()["code"] == "too_many_jobs"
        assert post("one two").status_code == 202  # identical content: nothing new, same job
    container.close()


def test_queued_jobs_quota_has_retry_after(tmp_path, embedder):
    container, client = _client(tmp_path, embedder, limits={"max_queued_jobs_per_namespace": 1})
    with client:
        client.post("/v1/namespaces", json={"name": "a"}, headers=ADMIN)
        first = client.post(
            "/v1/namespaces/a/documents", json={"documents": [{"text": "one"}]}, headers=ADMIN
        )
        assert first.status_code == 202
        r = client.post("/v1/namespaces/a/documents", json={"documents": [{"text": "two"}]}, headers=ADMIN)
        assert (
            r.status_code == 429 and r.json()["code"] == "too_many_jobs" and int(r.headers["Retry-After"]) > 0
        )
        container.worker().drain()
        assert (
            client.post(
                "/v1/namespaces/a/documents", json={"documents": [{"text": "two"}]}, headers=ADMIN
            ).status_code
            == 202
        )
    container.close()


def test_request_bodies_over_the_limit_get_413_declared_or_streamed(tmp_path, embedder):
    container, client = _client(tmp_path, embedder, limits={"max_request_bytes": 1_000})
    with client:
        client.post("/v1/namespaces", json={"name": "a"}, headers=ADMIN)
        big = {"documents": [{"text": "x" * 2_000}]}
        r = client.post("/v1/namespaces/a/documents", json=big, headers=ADMIN)
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

        def chunks():
            yield b'{"documents": [{"text": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}]}'

        r = client.post(
            "/v1/namespaces/a/documents",
            content=chunks(),
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
        assert (
            client.post(
                "/v1/namespaces/a/documents", json={"documents": [{"text": "small"}]}, headers=ADMIN
            ).status_code
            == 202
        )
    container.close()


def test_an_open_service_binds_only_to_loopback():
    check_exposure(AuthSettings(), "127.0.0.1")
    check_exposure(AuthSettings(), "::1")
    check_exposure(AuthSettings(), "localhost")
    for host in ("0.0.0.0", "::", "10.1.2.3", "example.com"):
        with pytest.raises(UnsafeBind, match="HIPPOGRAPH_AUTH__ADMIN_KEY"):
            check_exposure(AuthSettings(), host)
        check_exposure(AuthSettings(admin_key="k" * 32), host)
        check_exposure(AuthSettings(disabled=True), host)


def test_auth_disabled_warns_on_every_start(caplog):
    caplog.set_level(logging.WARNING)
    check_exposure(AuthSettings(disabled=True), "0.0.0.0")
    assert "switched off" in caplog.text


def test_uploads_are_authenticated_before_their_body_is_read(tmp_path, embedder):
    container, client = _client(tmp_path, embedder, limits={"max_request_bytes": 1_000})
    with client:
        client.post("/v1/namespaces", json={"name": "a"}, headers=ADMIN)
        big = {"documents": [{"text": "x" * 5_000}]}
        # a stranger's upload: 401 before the size (or the JSON) is even looked at
        r = client.post("/v1/namespaces/a/documents", json=big)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        r = client.post(
            "/v1/namespaces/a/documents", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 401
        assert client.post("/v1/namespaces/a/documents", json=big, headers=ADMIN).status_code == 413
    container.close()


def test_with_keys_off_an_authorization_header_is_not_ours_to_judge(client):
    # e.g. a proxy in front of a loopback service adds its own Basic credentials
    r = client.get("/v1/namespaces", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert r.status_code == 200
