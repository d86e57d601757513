"""Namespace use cases: statistics, and deleting a namespace with everything in it."""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import Conflict
from service.jobs.queue import JobQueue
from service.retrieval.lexical import LexicalIndexCache
from service.retrieval.snapshot import SnapshotCache
from service.stores.base import GraphStore
from service.stores.sql.documents import DocumentStore


@dataclass(frozen=True)
class NamespaceStats:
    documents: int  # stored, whatever their status
    passages: int  # in the graph (of indexed documents only), and so on below
    entities: int
    facts: int
    synonym_edges: int


@dataclass(frozen=True)
class GetStats:
    """A namespace's document count and graph size; ``NamespaceNotFound`` if there is none."""

    documents: DocumentStore
    graph: GraphStore

    def __call__(self, namespace: str) -> NamespaceStats:
        self.documents.get_namespace(namespace)
        g = self.graph.stats(namespace)
        return NamespaceStats(
            documents=self.documents.count_documents(namespace),
            passages=g.passages,
            entities=g.entities,
            facts=g.facts,
            synonym_edges=g.synonym_edges,
        )


@dataclass(frozen=True)
class DeleteNamespace:
    """Delete a namespace with its documents, jobs and graph.

    Queued jobs are cancelled. While one of its jobs is running, the namespace is NOT deleted:
    the job is asked to cancel and ``Conflict`` (409) says to retry once it has stopped — so no
    worker can write into a namespace that is being deleted. Otherwise the namespace is marked
    ``deleting`` (from then on it is invisible and accepts nothing, and its name cannot be
    created again), its graph is deleted, and only then its rows. If the graph store fails on
    the way, the namespace stays marked; deleting it again finishes the job.
    """

    documents: DocumentStore
    jobs: JobQueue
    graph: GraphStore
    snapshots: SnapshotCache
    lexical: LexicalIndexCache
    stalled_after_s: float

    def __call__(self, namespace: str) -> None:
        # A job whose worker died (no heartbeat) must not block the delete until some worker
        # process happens to run the reaper.
        self.jobs.reap_stalled(self.stalled_after_s)
        with self.documents.transaction() as conn:
            self.documents.lock_for_delete(conn, namespace)
            running = self.jobs.stop_namespace_jobs(conn, namespace)
            if not running:
                self.documents.mark_deleting(conn, namespace)
        if running:
            raise Conflict(
                f"namespace {namespace!r} has a running job ({', '.join(running)}); it was asked to "
                "cancel. Delete the namespace again once the job has stopped."
            )
        self.graph.delete_namespace(namespace)
        self.snapshots.drop(namespace)
        self.lexical.drop(namespace)
        with self.documents.transaction() as conn:
            self.documents.delete_namespace_rows(conn, namespace)
