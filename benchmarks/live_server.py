"""A real ``hippograph serve`` subprocess with API keys on, for the load benchmark and the tests
that talk to a live server (tests/integration/test_schemathesis.py, test_load_smoke.py).

Contract of ``LiveServer``:

- ``start()`` runs ``python -m service serve --host 127.0.0.1 --port <free port>`` from the
  repository root on a fresh data dir (SQLite by default; ``database_url`` for another store,
  which is then migrated with ``--migrate``), in-process worker on, offline extractor (the LLM
  variables are removed from the environment), ``HIPPOGRAPH_AUTH__ADMIN_KEY`` set to a random
  key. It returns once ``/readyz`` answers 200, and raises ``RuntimeError`` with the server's
  log when the process exits or is not ready within ``ready_timeout_s``: a server that cannot
  start fails its caller, it is never skipped.
- ``stop()`` sends SIGTERM, waits ``stop_timeout_s``, then SIGKILL. Idempotent.
- ``namespace_key(name, ...)`` creates the namespace (201, or 409 when it exists) and a key
  bound to it with the admin key, and returns the key (``hgk_...``).

Stdlib and httpx only, so a benchmark script can import it from the repository root.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def wait_ready(base_url: str, proc: subprocess.Popen, timeout_s: float, poll_s: float = 0.3) -> bool:
    """Poll ``base_url``/readyz until it answers 200 (True), or ``proc`` exits or ``timeout_s``
    passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(poll_s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    data_dir: Path
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    ready_timeout_s: float = 180.0
    stop_timeout_s: float = 30.0
    admin_key: str = field(default_factory=lambda: "adm_" + secrets.token_urlsafe(32))
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "serve.log"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def start(self) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPOGRAPH_")}
        env.update(
            {
                "HIPPOGRAPH_DATA_DIR": str(self.data_dir),
                "HIPPOGRAPH_AUTH__ADMIN_KEY": self.admin_key,
                "HIPPOGRAPH_WORKER__IN_PROCESS": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.database_url:
            env["HIPPOGRAPH_DATABASE__URL"] = self.database_url
        env.update(self.extra_env)
        cmd = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.database_url:
            cmd.append("--migrate")
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        if not wait_ready(self.base_url, self.proc, self.ready_timeout_s):
            self.stop()
            raise RuntimeError(f"hippograph serve did not become ready:\n{self.log_tail()}")
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def namespace_key(self, namespace: str, scope: str = "admin", requests_per_minute: int = 0) -> str:
        with httpx.Client(base_url=self.base_url, headers=self.admin_headers(), timeout=30) as client:
            made = client.post("/v1/namespaces", json={"name": namespace})
            if made.status_code not in (201, 409):
                raise RuntimeError(f"creating namespace {namespace!r}: {made.status_code} {made.text}")
            key = client.post(
                "/v1/keys",
                json={
                    "name": f"{namespace} {scope}",
                    "scope": scope,
                    "namespaces": [namespace],
                    "requests_per_minute": requests_per_minute,
                },
            )
            if key.status_code != 201:
                raise RuntimeError(f"creating a key for {namespace!r}: {key.status_code} {key.text}")
            return key.json()["key"]

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
