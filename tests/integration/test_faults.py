"""Faults (issue 10, "Tests a hostile world would write"): a crash or an outage in the middle of
an ingestion job costs nothing.

Each test ingests the same small 2Wiki corpus twice: once without a fault (the baseline, in this
process) and once through the fault. Both must end with the same graph (``graph_digest`` of
tests/contract/test_ingest_order.py: nodes, weighted fact, mention and synonym edges, and which
passages state which fact), the same namespace stats, and the job ``succeeded`` with every
document indexed (none failed, none duplicated).

1. ``kill -9`` of a ``hippograph serve`` process (SQLite, in-process worker) mid-ingest, then a
   new one on the same data dir: it recognises its dead predecessor's job and resumes it within
   5 s of starting (issue #11), not after the 120 s stall timeout.
2. Neo4j (a server of this test's own) stopped mid-job and started again on the same home and
   port: the worker retries the job until the graph store answers again.
3. PostgreSQL (a throwaway cluster of this test's own, holding documents, jobs and the graph)
   stopped mid-job and started again.
4. The LLM endpoint answering 503, then refusing connections, then back (LLM extractor against
   tests/fakes/llm_server.py): the job is retried, no document is failed for the outage.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from benchmarks.live_server import LiveServer
from service.container import Container
from service.domain.records import DocumentStatus, Job, JobStatus
from service.pipeline.documents import NewDocument
from service.settings import GraphSettings
from tests.conftest import llm_settings, make_settings, shared_data
from tests.contract.conftest import _clean_neo4j
from tests.contract.test_ingest_order import graph_digest
from tests.fakes.llm_server import FakeLLM
from tests.support.neo4j_server import ensure_jars, start_neo4j
from tests.support.postgres_restart import start_again
from tests.support.postgres_server import start_postgres

pytestmark = [pytest.mark.data]

NS = "faults"
N_DOCS = 40
GROUP = 8  # documents per group: the fault strikes after the first, before the last

Outcome = tuple[str, dict[str, int], dict[str, int]]  # graph digest, graph counts, namespace stats


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, str]]:
    rows = json.loads(shared_data("2wiki-corpus", "corpus.json").read_text())[:N_DOCS]
    return [{"title": r["title"], "text": r["text"]} for r in rows]


def _worker(**overrides: Any) -> dict[str, Any]:
    return {
        "in_process": False,
        "poll_interval_s": 0.05,
        "heartbeat_s": 0.5,
        "group_size": GROUP,
        **overrides,
    }


def _container(path: Path, embedder, **settings: Any) -> Container:
    settings.setdefault("worker", _worker())
    path.mkdir(parents=True)
    c = Container.from_settings(make_settings(path, **settings), embedder=embedder)
    c.migrate()
    return c


def _outcome(c: Container) -> Outcome:
    digest, counts = graph_digest(c.graph, NS)
    return digest, counts, asdict(c.stats(NS))


def _submit(c: Container, corpus: list[dict[str, str]]) -> tuple[str, list[str]]:
    c.documents.create_namespace(NS)
    submission = c.submit_documents(NS, [NewDocument(text=d["text"], title=d["title"]) for d in corpus])
    return submission.job_id, submission.document_ids


def _baseline(path: Path, embedder, corpus: list[dict[str, str]], **settings: Any) -> Outcome:
    """The same corpus ingested without a fault, with the same settings."""
    c = _container(path, embedder, **settings)
    try:
        job_id, ids = _submit(c, corpus)
        c.worker().drain()
        _assert_all_indexed(c, job_id, ids)
        return _outcome(c)
    finally:
        c.close()


def _assert_all_indexed(c: Container, job_id: str, ids: list[str]) -> Job:
    job = c.jobs.get(job_id)
    assert job.status == JobStatus.SUCCEEDED, (job.status, job.last_error, job.errors)
    assert job.errors == [] and job.done == job.total == len(ids)
    statuses = {d.id: d.status for d in c.documents.get_many(NS, ids)}
    assert statuses == dict.fromkeys(ids, DocumentStatus.INDEXED)
    jobs, total = c.jobs.list(namespace=NS, status=None, limit=10, offset=0)
    assert total == 1, [j.id for j in jobs]  # nothing was queued twice
    return job


def _job_when(c: Container, job_id: str, condition: Callable[[Job], bool]) -> Callable[[], Job | None]:
    """A poll condition on the job; None while the database cannot be read (PostgreSQL down)."""

    def check() -> Job | None:
        try:
            job = c.jobs.get(job_id)
        except sa.exc.OperationalError:
            return None
        return job if condition(job) else None

    return check


def poll(condition: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    """``condition()`` until it returns something truthy (returned); fails naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)
    return value


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=server.admin_headers(), timeout=30)


def _mid_job(job: Job) -> bool:
    return job.done >= GROUP


def _ended(job: Job) -> bool:
    return job.status.terminal


def test_serve_killed_mid_ingest_resumes_after_restart(tmp_path: Path, embedder, corpus) -> None:
    want = _baseline(tmp_path / "baseline", embedder, corpus)
    env = {
        "HIPPOGRAPH_EMBEDDING__BACKEND": "torch",  # the session embedder's: the baseline's vectors
        "HIPPOGRAPH_WORKER__GROUP_SIZE": str(GROUP),
        "HIPPOGRAPH_WORKER__POLL_INTERVAL_S": "0.05",
        "HIPPOGRAPH_WORKER__HEARTBEAT_S": "0.5",
        # The stall timeout stays at its default (120 s): the restarted process must not need it.
    }
    data = tmp_path / "served"
    server = LiveServer(data, extra_env=env)  # keys on, offline extractor, in-process worker
    try:
        with _client(server.start()) as http:
            assert http.post("/v1/namespaces", json={"name": NS}).status_code == 201
            accepted = http.post(f"/v1/namespaces/{NS}/documents", json={"documents": corpus})
            assert accepted.status_code == 202, accepted.text
            job_id, ids = accepted.json()["job_id"], accepted.json()["document_ids"]
            poll(
                lambda: http.get(f"/v1/jobs/{job_id}").json()["progress"]["done"] >= GROUP,
                timeout_s=120,
                what="a group indexed",
            )
            assert server.proc is not None
            server.proc.send_signal(signal.SIGKILL)  # no shutdown hook, no lease handed back
            server.proc.wait(30)
        c = Container.from_settings(make_settings(data), embedder=embedder)
        try:
            killed = c.jobs.get(job_id)
            assert killed.status == JobStatus.RUNNING and killed.done < len(ids)  # killed mid-job
        finally:
            c.close()

        with _client(server.start()) as http:  # the same data dir
            started = time.monotonic()
            resumed = poll(
                lambda: (j := http.get(f"/v1/jobs/{job_id}").json())["attempts"] == 2 and j,
                timeout_s=5,
                what="the restarted server to take its dead predecessor's job back",
            )
            assert resumed["status"] in ("running", "succeeded"), resumed
            logging.getLogger(__name__).info(
                "job resumed %.2f s after the restart", time.monotonic() - started
            )
            poll(
                lambda: http.get(f"/v1/jobs/{job_id}").json()["status"] not in ("queued", "running"),
                timeout_s=120,
                what="the job to end after the restart",
            )
            job = http.get(f"/v1/jobs/{job_id}").json()
            assert job["status"] == "succeeded" and job["attempts"] == 2, job  # taken back, resumed
            stats = http.get(f"/v1/namespaces/{NS}/stats").json()
    finally:
        server.stop()

    c = Container.from_settings(make_settings(data), embedder=embedder)
    try:
        _assert_all_indexed(c, job_id, ids)
        got = _outcome(c)
    finally:
        c.close()
    assert stats == got[2]
    assert got == want


@pytest.mark.neo4j
def test_neo4j_stopped_mid_job_and_started_again(tmp_path: Path, embedder, corpus) -> None:
    ensure_jars()
    neo = start_neo4j(tmp_path / "neo4j")  # this test's own: the session's is not disturbed
    try:
        graph = {"backend": "neo4j", "neo4j_uri": neo.uri}
        want = _baseline(tmp_path / "baseline", embedder, corpus, graph=graph)
        _clean_neo4j(GraphSettings(**graph))
        # Retries after 0.25, 0.5, 1, 2... s: a Neo4j restart fits well within 12 attempts.
        c = _container(
            tmp_path / "fault", embedder, graph=graph, worker=_worker(max_attempts=12, retry_backoff_s=0.25)
        )
        try:
            job_id, ids = _submit(c, corpus)
            background = c.start_background_worker()
            try:
                poll(_job_when(c, job_id, _mid_job), timeout_s=120, what="a group indexed")
                neo.stop()
                failed = poll(
                    _job_when(c, job_id, lambda j: j.last_error is not None or _ended(j)),
                    timeout_s=120,
                    what="the worker to give the job back after Neo4j went away",
                )
                assert "GraphStoreUnavailable" in (failed.last_error or ""), failed
                assert not _ended(failed) and failed.errors == [] and failed.done < len(ids), failed
                neo = start_neo4j(neo.home, port=neo.port)  # same home, same bolt:// address
                poll(_job_when(c, job_id, _ended), timeout_s=240, what="the job to end after Neo4j came back")
            finally:
                background.shutdown(10)
            assert _assert_all_indexed(c, job_id, ids).attempts >= 2
            assert _outcome(c) == want
        finally:
            c.close()
    finally:
        neo.stop()


@pytest.mark.postgres
def test_postgres_restarted_mid_job(
    tmp_path: Path, embedder, corpus, caplog: pytest.LogCaptureFixture
) -> None:
    # Not under pytest's 0700 basetemp: the server runs as the postgres user and must reach it.
    base = Path(tempfile.mkdtemp(prefix="hippograph-pg-faults-"))
    server = start_postgres(base)  # this test's own cluster: the session's is not disturbed
    try:
        admin = sa.create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in ("baseline", "fault"):  # our own names
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        want = _baseline(tmp_path / "baseline", embedder, corpus, database={"url": server.url("baseline")})
        # stalled_after_s stays 120 s: the worker records its failed attempt once the database is
        # back, and the job is retried at once, not when a reaper finds it stalled.
        worker = _worker(max_attempts=12, retry_backoff_s=0.25)
        c = _container(tmp_path / "fault", embedder, database={"url": server.url("fault")}, worker=worker)
        try:
            job_id, ids = _submit(c, corpus)
            caplog.set_level(logging.INFO, logger="service.jobs.worker")
            background = c.start_background_worker()
            try:
                poll(_job_when(c, job_id, _mid_job), timeout_s=120, what="a group indexed")
                seen = len(caplog.records)
                server.stop()
                # Down until the worker's own attempt failed on it (not just a heartbeat): a
                # restart between two queries would go unnoticed (pool_pre_ping).
                poll(
                    lambda: any(
                        r.levelno >= logging.ERROR and r.name == "service.jobs.worker"
                        for r in caplog.records[seen:]
                    ),
                    timeout_s=60,
                    what="the worker's attempt to fail on the outage",
                )
                start_again(server)
                poll(_job_when(c, job_id, _ended), timeout_s=90, what="the job to end after the restart")
            finally:
                background.shutdown(10)
            assert _assert_all_indexed(c, job_id, ids).attempts >= 2
            messages = [r.getMessage() for r in caplog.records[seen:]]
            assert any("is queued after the failed attempt" in m for m in messages)
            assert not any("reaped" in m for m in messages)
            assert _outcome(c) == want
        finally:
            c.close()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_llm_endpoint_failing_then_recovering(tmp_path: Path, embedder, corpus) -> None:
    fake = FakeLLM().start()  # this test's own: the session's fake is not disturbed
    try:
        llm = {"llm": llm_settings(fake, timeout_s=2.0), "extraction": {"extractor": "llm"}}
        want = _baseline(tmp_path / "baseline", embedder, corpus, **llm)
        c = _container(
            tmp_path / "fault", embedder, **llm, worker=_worker(max_attempts=12, retry_backoff_s=0.1)
        )
        try:
            # Two requests per document (NER, then triples): one group, then every request 503.
            fake.fail_after(2 * GROUP, status=503)
            job_id, ids = _submit(c, corpus)
            background = c.start_background_worker()
            try:
                failing = poll(
                    _job_when(c, job_id, lambda j: "HTTP 503" in (j.last_error or "") or _ended(j)),
                    timeout_s=60,
                    what="the job retried after 503s",
                )
                # Given back to the queue, not finished with the documents the outage hit failed.
                assert not _ended(failing) and failing.errors == [] and failing.done == GROUP, failing
                fake.stop()  # now connections are refused
                fake.failing = None
                poll(
                    _job_when(c, job_id, lambda j: "cannot reach LLM endpoint" in (j.last_error or "")),
                    timeout_s=60,
                    what="the job retried after refused connections",
                )
                fake.restart()
                poll(
                    _job_when(c, job_id, _ended), timeout_s=120, what="the job to end after the LLM came back"
                )
            finally:
                background.shutdown(10)
            assert _assert_all_indexed(c, job_id, ids).attempts >= 3
            assert _outcome(c) == want
        finally:
            c.close()
    finally:
        fake.stop()
