"""The compose topology, run as processes (issue #11): there is no Docker engine here, so each of
our services in `docker-compose.yml` — `migrate`, `api`, `worker` x3 — is started as a process
with its own `command` and `environment` exactly as `docker-compose config` resolves them (with
the image's `ENV` from the Dockerfile underneath), in compose's dependency order.

What stands in for compose's network and volumes, and nothing else is changed:
- the service host names `postgres:5432` and `neo4j:7687` point at a PostgreSQL (the session's,
  with the `hippograph` role and database compose's postgres service would create) and a Neo4j of
  this module's own, started with compose's credentials (auth on);
- each process has its own `/data` (a temporary folder) and, since they share one host, its own
  ports (the API's 8000, each worker's metrics port 9100), bound to loopback.

Two runs of the first 1,000 2Wiki documents (10 jobs of 100 through the API, offline extractor,
as compose runs without an LLM endpoint) are compared with a single-worker run of the same
documents: one where a worker is `kill -9`ed mid-job (and restarted, as compose's
`restart: unless-stopped` does), one where every worker gets SIGTERM mid-job and all are
restarted. Each must index every document exactly once, leave no duplicate node or relationship,
end every job `succeeded`, and build the very graph the single worker built (order-independent
digest); after SIGTERM no job has used an attempt.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import neo4j
import pytest
import sqlalchemy as sa

from benchmarks.compose_topology import Deployment, compose_config, reset_stores
from service.settings import GraphSettings
from service.stores.neo4j.graph_store import Neo4jGraphStore
from service.stores.sql import tables as t
from tests.conftest import shared_data
from tests.contract.test_ingest_order import graph_digest
from tests.support.neo4j_server import Neo4jProcess, ensure_jars, start_neo4j

pytestmark = [pytest.mark.data, pytest.mark.neo4j, pytest.mark.postgres]

N_DOCS = 1000
PER_JOB = 100  # > the compose group size (64): every job has a middle to strike in
NS = "compose"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-" + secrets.token_hex(8),
    "NEO4J_PASSWORD": "neo4j-" + secrets.token_hex(8),
    "HIPPOGRAPH_AUTH__ADMIN_KEY": "admin-" + secrets.token_hex(16),
}


@dataclass
class Outcome:
    digest: str
    counts: dict[str, int]
    jobs: list[dict]
    documents: dict[str, int]  # status -> count
    duplicates: int  # relationships that exist twice (same nodes, kind, fact id and passage)


Fault = Callable[[Deployment, sa.Engine], None]


def _run(
    root: Path, stack: tuple[dict, str, Neo4jProcess], corpus: list[dict], workers: int, fault: Fault | None
) -> Outcome:
    config, pg_admin_url, neo = stack
    reset_stores(pg_admin_url, neo.uri, SECRETS)
    dep = Deployment(root, config, pg_admin_url, neo.port)
    engine = sa.create_engine(dep.app_database_url)
    try:
        dep.up(workers)
        headers = {"Authorization": f"Bearer {SECRETS['HIPPOGRAPH_AUTH__ADMIN_KEY']}"}
        with httpx.Client(base_url=dep.api_url, headers=headers, timeout=60) as http:
            assert http.post("/v1/namespaces", json={"name": NS}).status_code == 201
            job_ids = []
            for start in range(0, len(corpus), PER_JOB):
                batch = corpus[start : start + PER_JOB]
                r = http.post(f"/v1/namespaces/{NS}/documents", json={"documents": batch})
                assert r.status_code == 202, r.text
                job_ids.append(r.json()["job_id"])
            if fault is not None:
                fault(dep, engine)
            deadline = time.monotonic() + 1200
            while True:
                jobs = [http.get(f"/v1/jobs/{j}").json() for j in job_ids]
                if all(j["status"] not in ("queued", "running") for j in jobs):
                    break
                assert time.monotonic() < deadline, f"jobs still running after 20 min\n{dep.logs()}"
                time.sleep(1)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.documents.c.status, sa.func.count()).group_by(t.documents.c.status)
            ).all()
        documents = {str(s): int(n) for s, n in rows}
    finally:
        dep.stop_all()
        engine.dispose()
    auth = ("neo4j", SECRETS["NEO4J_PASSWORD"])
    graph = GraphSettings(
        backend="neo4j",
        neo4j_uri=neo.uri,
        neo4j_user=auth[0],
        neo4j_password=auth[1],  # type: ignore[arg-type]
    )
    store = Neo4jGraphStore.connect(graph)
    try:
        digest, counts = graph_digest(store, NS)
    finally:
        store.close()
    with neo4j.GraphDatabase.driver(neo.uri, auth=auth) as driver:
        records, _, _ = driver.execute_query(
            # A fact stated by several passages is one FACT relationship per passage, by design.
            "MATCH (a)-[r]->(b) WITH a, b, type(r) AS kind, r.id AS id, r.passage_id AS passage, "
            "count(r) AS n WHERE n > 1 RETURN count(*) AS duplicates"
        )
    return Outcome(digest, counts, jobs, documents, int(records[0]["duplicates"]))


def _running_mid_job(engine: sa.Engine, deadline_s: float = 600) -> list[tuple[str, str]]:
    """(job id, worker id) of the jobs running with some but not all documents done."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.jobs.c.id, t.jobs.c.worker_id).where(
                    t.jobs.c.status == "running", t.jobs.c.done > 0, t.jobs.c.done < t.jobs.c.total
                )
            ).all()
        if rows:
            return [(r.id, r.worker_id) for r in rows]
        time.sleep(0.05)
    raise AssertionError("no job was ever seen mid-way")


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    rows = json.loads(shared_data("2wiki-corpus", "corpus.json").read_text())[:N_DOCS]
    return [{"title": r["title"], "text": r["text"]} for r in rows]


@pytest.fixture(scope="module")
def stack(postgres, tmp_path_factory) -> Iterator[tuple[dict, str, Neo4jProcess]]:
    """The resolved compose file, the session's PostgreSQL, and a Neo4j of this module's own
    started with compose's credentials."""
    ensure_jars()
    home = tmp_path_factory.mktemp("compose-neo4j") / "home"
    neo = start_neo4j(home, auth=f"neo4j:{SECRETS['NEO4J_PASSWORD']}")
    try:
        yield compose_config(SECRETS), postgres, neo
    finally:
        neo.stop()


@pytest.fixture(scope="module")
def single_worker(stack, corpus, tmp_path_factory) -> Outcome:
    outcome = _run(tmp_path_factory.mktemp("single"), stack, corpus, workers=1, fault=None)
    _assert_complete(outcome)
    return outcome


def _assert_complete(outcome: Outcome) -> None:
    assert [j["status"] for j in outcome.jobs] == ["succeeded"] * (N_DOCS // PER_JOB), outcome.jobs
    assert sum(j["progress"]["done"] for j in outcome.jobs) == N_DOCS
    assert outcome.documents == {"indexed": N_DOCS}  # every document, once
    assert outcome.duplicates == 0
    assert outcome.counts["passages"] >= N_DOCS  # a long document is split into passages


def test_three_workers_one_killed_mid_job_build_the_single_worker_graph(
    stack, corpus, single_worker, tmp_path
):
    killed: list[str] = []

    def kill_one(dep: Deployment, engine: sa.Engine) -> None:
        job_id, worker_id = _running_mid_job(engine)[0]
        name = dep.worker_named(worker_id)
        dep.procs[name].send_signal(signal.SIGKILL)
        dep.procs[name].wait(30)
        killed.append(job_id)
        dep.start("worker", name)  # compose's restart: unless-stopped

    got = _run(tmp_path, stack, corpus, workers=3, fault=kill_one)
    _assert_complete(got)
    attempts = {j["id"]: j["attempts"] for j in got.jobs}
    assert attempts[killed[0]] == 2  # the killed attempt counts; the job was taken back and finished
    assert got.counts == single_worker.counts
    assert got.digest == single_worker.digest


def test_three_workers_stopped_with_sigterm_mid_job_and_restarted_use_no_attempt(
    stack, corpus, single_worker, tmp_path
):
    grace = re.fullmatch(r"(\d+)s", stack[0]["services"]["worker"]["stop_grace_period"])
    assert grace is not None

    def stop_all_workers(dep: Deployment, engine: sa.Engine) -> None:
        _running_mid_job(engine)
        workers = {n: p for n, p in dep.procs.items() if n.startswith("worker-")}
        for proc in workers.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in workers.items():
            # compose would SIGKILL after stop_grace_period: each must exit before, cleanly
            assert proc.wait(int(grace[1])) == 0, f"{name} did not stop cleanly\n{dep.logs()}"
        for name in workers:
            dep.start("worker", name)

    got = _run(tmp_path, stack, corpus, workers=3, fault=stop_all_workers)
    _assert_complete(got)
    assert [j["attempts"] for j in got.jobs] == [1] * len(got.jobs), got.jobs
    assert got.counts == single_worker.counts
    assert got.digest == single_worker.digest
