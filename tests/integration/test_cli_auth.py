"""``hippograph keys`` and the serve command's safe default, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fastapi.testclient import TestClient

from service.app import create_app
from service.container import Container
from tests.conftest import make_settings


def _run(tmp_path, *args, env_extra=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPOGRAPH_")}
    env.update({"HIPPOGRAPH_DATA_DIR": str(tmp_path), **(env_extra or {})})
    return subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_keys_created_by_the_cli_work_over_rest_until_revoked(tmp_path, embedder):
    made = _run(tmp_path, "keys", "create", "--name", "cli", "--scope", "read", "--namespace", "a")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["key"].startswith("hgk_") and key["namespaces"] == ["a"] and "not shown again" in made.stderr
    listed = json.loads(_run(tmp_path, "keys", "list").stdout)
    assert [k["id"] for k in listed] == [key["id"]] and "key" not in listed[0]

    admin = "admin-" + "z" * 30
    container = Container.from_settings(make_settings(tmp_path, auth={"admin_key": admin}), embedder=embedder)
    with TestClient(create_app(container, run_worker=False, migrate=False)) as client:
        headers = {"Authorization": f"Bearer {key['key']}"}
        assert client.get("/v1/namespaces", headers=headers).status_code == 200
        revoked = _run(tmp_path, "keys", "revoke", key["id"])
        assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked_at"]
        assert client.get("/v1/namespaces", headers=headers).status_code == 401
    container.close()
    missing = _run(tmp_path, "keys", "revoke", "000000000000")
    assert missing.returncode == 1 and "key_not_found" in missing.stderr


def test_serve_refuses_a_public_address_without_keys(tmp_path):
    r = _run(tmp_path, "serve", "--host", "0.0.0.0", "--port", "1")
    assert r.returncode == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in r.stderr
