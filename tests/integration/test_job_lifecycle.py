"""The job queue's ownership rules and the worker's reactions, on real SQLite.

A worker's writes to its job are fenced by its worker id; cancels, reaps and namespace deletes
take effect between documents; document statuses follow the job that owns them.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine

from service.domain.models import GraphStats, PassageText
from service.domain.records import IngestPayload
from service.errors import (
    Conflict,
    DocumentNotFound,
    GraphStoreUnavailable,
    JobNotFound,
    NamespaceNotFound,
)
from service.extraction.offline import OfflineExtractor
from service.pipeline.documents import NewDocument
from service.pipeline.ingest import DocumentInput, DocumentOutcome, Ingest
from service.stores.sql.graph_store import SqlGraphStore
from tests.conftest import drain, make_settings, use_extractor
from tests.contract.test_ingest_order import graph_digest

EMPTY = GraphStats(passages=0, entities=0, facts=0, synonym_edges=0)


@pytest.fixture
def jobs_container(tmp_path, embedder, database_settings):
    """The same rules on both relational stores (PostgreSQL: row locks, SKIP LOCKED, RETURNING)."""
    from service.container import Container

    worker = {"in_process": False, "retry_backoff_s": 0.0}
    c = Container.from_settings(
        make_settings(tmp_path, database=database_settings, worker=worker), embedder=embedder
    )
    c.migrate()
    yield c
    c.close()


def _docs(n: int, start: int = 0) -> list[NewDocument]:
    return [
        NewDocument(id=f"d{i}", title=f"Town {i}", text=f"Town {i} lies on the river Vistula in Poland.")
        for i in range(start, start + n)
    ]


def _submit(c, ns: str = "ns", docs: list[NewDocument] | None = None) -> str:
    try:
        c.documents.create_namespace(ns)
    except Conflict:
        pass
    return c.submit_documents(ns, docs or _docs(2)).job_id


def test_only_the_owner_can_touch_a_running_job(jobs_container):
    container = jobs_container
    job_id = _submit(container)
    jobs = container.jobs
    assert jobs.claim("worker-a").id == job_id
    assert jobs.heartbeat(job_id, "worker-a") == "held"
    assert jobs.heartbeat(job_id, "worker-b") == "lost"

    # worker-a stops heartbeating; the reaper gives the job to worker-b
    assert jobs.reap_stalled(stalled_after_s=-1) == 1
    assert jobs.claim("worker-b").id == job_id
    assert jobs.heartbeat(job_id, "worker-a") == "lost"
    assert jobs.record_progress(job_id, "worker-a", done=2, errors=[]) == "lost"
    assert jobs.finish(job_id, "worker-a", "succeeded") is False
    assert jobs.fail_attempt(job_id, "worker-a", "boom") == "lost"
    job = jobs.get(job_id)
    assert job.status == "running" and job.done == 0 and job.attempts == 2

    jobs.cancel(job_id)
    assert jobs.heartbeat(job_id, "worker-b") == "cancel"
    assert jobs.finish(job_id, "worker-b", "cancelled") is True
    assert jobs.get(job_id).status == "cancelled"
    assert {d.status for d in container.documents.get_many("ns", ["d0", "d1"])} == {"cancelled"}


def test_a_cancelled_job_keeps_its_lease_until_its_worker_stops(jobs_container):
    """Between a cancel and the worker acting on it (a whole group's extraction), the heartbeat
    goes on: no reaper may hand the job to anyone, and no namespace delete may proceed."""
    from service.jobs.run import Heartbeat

    container = jobs_container
    job_id = _submit(container)
    container.jobs.claim("w")
    container.jobs.cancel(job_id)
    with Heartbeat(container.jobs, job_id, "w", interval_s=0.05) as lease:
        time.sleep(1.5)
        assert container.jobs.reap_stalled(stalled_after_s=1.0) == 0
        with pytest.raises(Conflict, match="running job"):
            container.delete_namespace("ns")
        assert lease.state == "cancel"
        lease.report("held")  # a stale answer never undoes a newer one
        assert lease.state == "cancel"


def test_a_job_whose_worker_died_does_not_block_a_namespace_delete(jobs_container):
    container = jobs_container
    job_id = _submit(container)
    container.jobs.claim("dead-worker")  # then the process was killed: no heartbeat, no reaper
    container.settings.worker.stalled_after_s = -1
    container.delete_namespace("ns")
    with pytest.raises(NamespaceNotFound):
        container.documents.get_namespace("ns")
    with pytest.raises(JobNotFound):
        container.jobs.get(job_id)


def test_no_worker_claims_a_job_of_a_namespace_being_deleted(jobs_container):
    container = jobs_container
    container.documents.create_namespace("ns")
    with container.engine.begin() as conn:  # as if a submission slipped in after the delete began
        container.documents.mark_deleting(conn, "ns")
        container.jobs.enqueue(conn, "ns", IngestPayload(()))
    assert container.jobs.claim("w") is None


def test_a_job_that_keeps_killing_its_worker_fails_for_good(jobs_container):
    container = jobs_container
    job_id = _submit(container)
    jobs = container.jobs
    for attempt in range(1, 4):
        assert jobs.claim(f"w{attempt}").attempts == attempt
        assert jobs.reap_stalled(stalled_after_s=-1) == 1
    job = jobs.get(job_id)
    assert job.status == "failed" and job.last_error == "worker stopped heartbeating"
    assert {d.status for d in container.documents.get_many("ns", ["d0", "d1"])} == {"failed"}
    assert jobs.claim("w4") is None


def test_failed_attempts_back_off_then_fail_with_their_documents(jobs_container):
    c = jobs_container
    job_id = _submit(c)
    for _ in range(2):
        job = c.jobs.claim("w")
        assert c.jobs.fail_attempt(job.id, "w", "store down") == "queued"
    job = c.jobs.claim("w")
    assert job.attempts == 3
    assert c.jobs.fail_attempt(job_id, "w", "store down") == "failed"
    failed = c.jobs.get(job_id)
    assert failed.status == "failed" and failed.last_error == "store down"
    assert {d.status for d in c.documents.get_many("ns", ["d0", "d1"])} == {"failed"}


def test_release_gives_the_job_back_without_using_an_attempt(jobs_container):
    container = jobs_container
    job_id = _submit(container)
    assert container.jobs.claim("w").attempts == 1
    assert container.jobs.release(job_id, "w") is True
    job = container.jobs.get(job_id)
    assert job.status == "queued" and job.attempts == 0
    assert drain(container) == 1 and container.jobs.get(job_id).status == "succeeded"


class _CancelsOnSecondDocument(OfflineExtractor):
    """The offline extractor, plus a user who cancels the job while document 2 is extracted."""

    def __init__(self, container, job_id: str) -> None:
        self._c, self._job_id, self._calls = container, job_id, 0

    def extract(self, passage: PassageText):
        self._calls += 1
        if self._calls == 2:
            self._c.jobs.cancel(self._job_id)
        return super().extract(passage)


def test_cancel_stops_a_running_job_before_its_next_write(jobs_container, monkeypatch):
    container = jobs_container
    job_id = _submit(container, docs=_docs(5))
    use_extractor(monkeypatch, container, _CancelsOnSecondDocument(container, job_id))
    monkeypatch.setattr(container.settings.worker, "group_size", 1)  # one document per ingest call
    assert drain(container) == 1
    job = container.jobs.get(job_id)
    statuses = {d.id: d.status for d in container.documents.get_many("ns", [f"d{i}" for i in range(5)])}
    # d1 was being extracted when the cancel came: it is not written
    assert job.status == "cancelled" and job.done == 1
    assert statuses == {
        "d0": "indexed",
        "d1": "cancelled",
        "d2": "cancelled",
        "d3": "cancelled",
        "d4": "cancelled",
    }
    assert container.graph.stats("ns").passages == 1


def test_worker_shutdown_gives_the_job_back_and_a_later_worker_finishes_it(jobs_container, monkeypatch):
    container = jobs_container
    job_id = _submit(container, docs=_docs(3))
    stop = threading.Event()
    monkeypatch.setattr(container.settings.worker, "group_size", 1)

    class StopsAfterFirst(OfflineExtractor):
        def extract(self, passage: PassageText):
            stop.set()  # SIGTERM arrives while the first document is being extracted
            return super().extract(passage)

    use_extractor(monkeypatch, container, StopsAfterFirst())
    assert container.worker(stop=stop).run_once() is True
    job = container.jobs.get(job_id)
    assert job.status == "queued" and job.done == 1 and job.attempts == 0
    monkeypatch.undo()
    assert drain(container) == 1
    assert container.jobs.get(job_id).status == "succeeded"
    assert container.graph.stats("ns").passages == 3


def test_a_reposted_document_belongs_to_its_new_job(jobs_container):
    container = jobs_container
    first = _submit(container, docs=_docs(1))
    container.jobs.claim("w")
    container.documents.set_status("ns", "d0", "failed", "extractor crashed", job_id=first)
    assert container.jobs.fail_attempt(first, "w", "store down") == "queued"  # job A retries later

    second = container.submit_documents("ns", _docs(1)).job_id  # the failed document, again
    assert second != first
    assert container.documents.get("ns", "d0").job_id == second
    container.jobs.cancel(first)  # must not cancel the document job B now owns
    assert container.documents.get("ns", "d0").status == "pending"
    assert container.documents.set_status("ns", "d0", "indexed", job_id=first) is False
    drain(container)
    assert container.jobs.get(second).status == "succeeded"
    assert container.documents.get("ns", "d0").status == "indexed"


def _same_graph_without(c, tmp_path, embedder, kept: list[NewDocument]) -> None:
    """``c``'s namespace holds exactly the graph that ``kept`` alone make (built on SQLite: both
    relational stores give identical graphs), and no document but them."""
    from service.container import Container

    other = Container.from_settings(make_settings(tmp_path / "baseline"), embedder=embedder)
    try:
        other.migrate()
        _submit(other, docs=kept)
        drain(other)
        want = graph_digest(other.graph, "ns")
    finally:
        other.close()
    assert graph_digest(c.graph, "ns") == want
    docs, total = c.documents.list("ns", limit=50, offset=0)
    assert total == len(kept) and {d.id for d in docs} == {d.id for d in kept}


def test_deleting_a_document_of_a_queued_job_wins(jobs_container, tmp_path, embedder):
    """The delete of a document still waiting for its job answers at once (no 409), and the job
    then indexes the others and nothing of it."""
    c = jobs_container
    docs = _docs(3)
    job_id = _submit(c, docs=docs)
    c.delete_document("ns", "d1")
    with pytest.raises(DocumentNotFound):
        c.documents.get("ns", "d1")
    assert drain(c) == 1
    job = c.jobs.get(job_id)
    assert job.status == "succeeded" and job.done == job.total == 3 and job.errors == []
    assert c.graph.stats("ns").passages == 2
    _same_graph_without(c, tmp_path, embedder, [docs[0], docs[2]])


def test_deleting_a_document_while_its_group_is_extracted_wins(
    jobs_container, monkeypatch, tmp_path, embedder
):
    """The worker already holds the document (its group is being extracted) when the delete
    comes: the delete answers at once; under the namespace's write lock the worker finds the
    row no longer its pending document and writes the rest of the group without it."""
    c = jobs_container
    docs = _docs(3)
    job_id = _submit(c, docs=docs)
    offline = OfflineExtractor()
    deleted: list[str] = []

    class DeletingDuringExtraction:
        name = "offline"

        def extract(self, passage: PassageText):
            if passage.document_id == "d1" and not deleted:
                c.delete_document("ns", "d1")  # the API call, while the worker is busy with d1
                deleted.append("d1")
            return offline.extract(passage)

    use_extractor(monkeypatch, c, DeletingDuringExtraction())
    assert drain(c) == 1
    assert deleted == ["d1"]
    job = c.jobs.get(job_id)
    assert job.status == "succeeded" and job.done == job.total == 3 and job.errors == []
    with pytest.raises(DocumentNotFound):
        c.documents.get("ns", "d1")
    monkeypatch.undo()
    _same_graph_without(c, tmp_path, embedder, [docs[0], docs[2]])


def test_a_document_deleted_and_posted_again_while_its_old_job_extracts_it_keeps_only_the_new_text(
    jobs_container, monkeypatch, tmp_path, embedder
):
    """Another worker indexes the re-post while the old job still extracts the old text; the
    old job must then not write its stale copy (under the write lock its write finds the row
    no longer its pending document and skips it)."""
    c = jobs_container
    docs = _docs(3)
    first = _submit(c, docs=docs)
    offline = OfflineExtractor()
    new_d1 = NewDocument(id="d1", title="Town 1", text="Town 1 was renamed Newtown and lies on the Oder.")
    reposted: list[str] = []

    class DeleteAndRepostDuringExtraction:
        name = "offline"

        def extract(self, passage: PassageText):
            if passage.document_id == "d1" and not reposted:
                c.delete_document("ns", "d1")
                reposted.append(c.submit_documents("ns", [new_d1]).job_id)
                # Another worker indexes the re-post before the old job gets to its write.
                assert c.worker().run_once() is True
                assert c.documents.get("ns", "d1").status == "indexed"
            return offline.extract(passage)

    use_extractor(monkeypatch, c, DeleteAndRepostDuringExtraction())
    assert drain(c) == 1
    monkeypatch.undo()
    old_job, new_job = c.jobs.get(first), c.jobs.get(reposted[0])
    assert old_job.status == new_job.status == "succeeded"
    assert old_job.done == old_job.total == 3 and new_job.done == new_job.total == 1
    assert c.documents.get("ns", "d1").status == "indexed"
    _same_graph_without(c, tmp_path, embedder, [docs[0], docs[2], new_d1])


def test_namespace_delete_waits_for_its_running_job(jobs_container):
    container = jobs_container
    job_id = _submit(container, docs=_docs(3))
    queued = _submit(container, docs=_docs(2, start=3))
    job = container.jobs.claim("w")
    assert job.id == job_id
    version_before = container.graph.graph_version("ns")

    with pytest.raises(Conflict, match="running job"):
        container.delete_namespace("ns")
    assert container.jobs.get(queued).status == "cancelled"  # queued work is dropped at once
    assert container.jobs.get(job_id).cancel_requested
    assert container.documents.get_namespace("ns")  # still there: the running job may write

    container.worker(worker_id="w").process(job)  # the worker sees the cancel before writing
    assert container.jobs.get(job_id).status == "cancelled"
    container.delete_namespace("ns")
    with pytest.raises(NamespaceNotFound):
        container.documents.get_namespace("ns")
    assert container.graph.stats("ns") == EMPTY

    container.documents.create_namespace("ns")
    assert container.graph.stats("ns") == EMPTY
    assert container.graph.graph_version("ns") > version_before  # caches can never confuse the two


def test_an_interrupted_namespace_delete_hides_the_namespace_until_deleted_again(jobs_container):
    container = jobs_container
    _submit(container)
    drain(container)
    assert container.graph.stats("ns").passages == 2
    # A delete that marked the namespace, then stopped (graph store down) before its graph went.
    with container.engine.begin() as conn:
        container.documents.mark_deleting(conn, "ns")
    with pytest.raises(NamespaceNotFound):
        container.documents.get_namespace("ns")
    assert "ns" not in [n.name for n in container.documents.list_namespaces()]
    with pytest.raises(NamespaceNotFound):
        container.submit_documents("ns", _docs(1, start=5))
    with pytest.raises(Conflict, match="being deleted"):
        container.documents.create_namespace("ns")  # its old graph must not become a new namespace's
    container.delete_namespace("ns")  # deleting again finishes the job
    assert container.graph.stats("ns") == EMPTY
    container.documents.create_namespace("ns")
    assert container.graph.stats("ns") == EMPTY and container.documents.count_documents("ns") == 0


def test_an_interrupted_document_delete_is_finished_by_deleting_again(jobs_container):
    container = jobs_container
    _submit(container, docs=_docs(2))
    drain(container)
    before = container.graph.stats("ns")
    # A delete that marked the document, then stopped (graph store down) before its graph went.
    with container.engine.begin() as conn:
        container.documents.mark_document_deleting(conn, "ns", "d1")
    with pytest.raises(Conflict, match="being deleted"):
        container.submit_documents("ns", _docs(2))  # re-posting it must wait for the delete
    assert container.documents.get("ns", "d1").status == "deleting"
    container.delete_document("ns", "d1")
    assert container.graph.stats("ns").passages == before.passages - 1
    with pytest.raises(DocumentNotFound):
        container.documents.get("ns", "d1")
    container.submit_documents("ns", _docs(2))  # now it is simply new again
    drain(container)
    after = container.graph.stats("ns")
    assert (after.passages, after.entities, after.facts) == (before.passages, before.entities, before.facts)


def test_deleting_and_recreating_a_namespace_never_serves_the_old_bm25_index(client, container):
    client.post("/v1/namespaces", json={"name": "lex"})
    old = [{"id": f"o{i}", "text": f"Old passage number {i} about Krakow."} for i in range(4)]
    client.post("/v1/namespaces/lex/documents", json={"documents": old})
    drain(container)
    hits = client.post("/v1/namespaces/lex/query", json={"query": "Krakow", "mode": "bm25"}).json()
    assert len(hits["passages"]) == 4
    assert client.delete("/v1/namespaces/lex").status_code == 204
    client.post("/v1/namespaces", json={"name": "lex"})
    client.post(
        "/v1/namespaces/lex/documents", json={"documents": [{"id": "n", "text": "Gdansk is a port."}]}
    )
    drain(container)
    r = client.post("/v1/namespaces/lex/query", json={"query": "Gdansk port", "mode": "bm25"})
    assert r.status_code == 200, r.text
    assert [p["document_id"] for p in r.json()["passages"]] == ["n"]
    assert r.json()["passages"][0]["score"] > 0


def test_reads_do_not_wait_for_a_writer_on_sqlite(tmp_path, embedder):
    from service.container import Container
    from tests.conftest import make_settings

    c = Container.from_settings(
        make_settings(tmp_path, database={"sqlite_busy_timeout_ms": 3000}), embedder=embedder
    )
    c.migrate()
    try:
        c.documents.create_namespace("ns")
        writer = sqlite3.connect(tmp_path / "hippograph.db", isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        writer.execute("INSERT INTO namespaces (name, created_at) VALUES ('other', '2026-01-01 00:00:00')")
        started = time.perf_counter()
        assert [n.name for n in c.documents.list_namespaces()] == ["ns"]  # the committed state
        assert c.graph.graph_version("ns") == 0
        assert c.jobs.list(namespace=None, status=None, limit=1, offset=0)[1] == 0
        assert time.perf_counter() - started < 1.0
        writer.execute("ROLLBACK")
        writer.close()
    finally:
        c.close()


def test_a_graph_store_outage_is_not_blamed_on_the_document(tmp_path, container):
    """Writes refused by the database (here: a read-only SQLite connection, a real one) must
    surface as GraphStoreUnavailable, so the worker retries the job, instead of failing the
    document for good."""
    container.documents.create_namespace("ns")
    read_only = create_engine(f"sqlite:///file:{tmp_path / 'hippograph.db'}?mode=ro&uri=true")
    outcomes: list[DocumentOutcome] = []

    class Record:
        def before_write(self, document_ids):
            return document_ids

        def document_done(self, outcome: DocumentOutcome) -> None:
            outcomes.append(outcome)

    options = container.ingest.options
    ingest = Ingest(SqlGraphStore(read_only), container.embedder, OfflineExtractor(), options)
    with pytest.raises(GraphStoreUnavailable):
        ingest("ns", [DocumentInput("d0", "Warsaw", "Warsaw is the capital of Poland.")], Record())
    assert outcomes == []
    read_only.dispose()


def test_shutdown_abandons_a_slow_document_and_gives_its_job_back(jobs_container, monkeypatch):
    """A document that outlasts the shutdown grace period: the job goes back to the queue at
    once (no attempt used), the abandoned worker finds it lost, and the next start finishes it."""
    container = jobs_container
    job_id = _submit(container, docs=_docs(2))
    extracting, proceed = threading.Event(), threading.Event()

    class Slow(OfflineExtractor):
        def extract(self, passage: PassageText):
            extracting.set()
            proceed.wait(30)
            return super().extract(passage)

    use_extractor(monkeypatch, container, Slow())
    background = container.start_background_worker()
    assert extracting.wait(30)
    started = time.perf_counter()
    background.shutdown(grace_s=0.3)
    assert time.perf_counter() - started < 5
    job = container.jobs.get(job_id)
    assert job.status == "queued" and job.attempts == 0

    proceed.set()  # the abandoned worker finishes its document: its next job write finds it lost
    background.thread.join(30)
    assert not background.thread.is_alive()
    assert container.jobs.get(job_id).status == "queued"
    monkeypatch.undo()
    assert drain(container) == 1
    job = container.jobs.get(job_id)
    assert job.status == "succeeded" and job.attempts == 1
    assert container.graph.stats("ns").passages == 2
