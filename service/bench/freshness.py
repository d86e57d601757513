"""Part c: freshness on the 2Wiki corpus.

Contract: the first ``inputs.freshness_documents`` 2Wiki documents are ingested (offline
extractor, fresh SQLite namespace, the job worker) and queried once, so the namespace's snapshot
exists. Then ONE made-up document (a name found nowhere else) is posted and its job run. Measured:

- ``snapshot_update_s``: the ``SnapshotCache.follow_write`` call after that document's write
  (timed around the call), and whether it extended the snapshot (``extended``) rather than
  leaving it to a background rebuild; acceptance <= 0.5 s;
- ``returned``: the FIRST query after the job succeeded (the service's default mode, top 10)
  returns the new document; its rank and wall time are reported too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.bench.common import Inputs, PartResult, Recorder, elapsed_ms, fresh_settings
from service.bench.musique import ingest_embedder
from service.container import Container
from service.domain.models import GraphWriteBatch
from service.domain.records import JobStatus
from service.jobs.drain import drain_showing_all
from service.pipeline.documents import NewDocument
from service.progress import Progress
from service.retrieval.snapshot import SnapshotCache
from service.settings import Settings

logger = logging.getLogger("hippograph.bench")

NAMESPACE = "twowiki"
SUBMIT_CHUNK = 1_000  # the API's default per-request document limit
NEW_TITLE = "Quorvath Ellindmere"
NEW_TEXT = (
    "Quorvath Ellindmere (born 3 March 1874) was a Velsarian cartographer who founded the "
    "Drimmelholt Survey Institute in the city of Ostrevane. Ellindmere mapped the Kelvaro "
    "Archipelago and married the botanist Sennit Arrowgale in 1902."
)
NEW_QUESTION = "Who founded the Drimmelholt Survey Institute?"


class FollowWriteTimer:
    """Wraps a ``SnapshotCache``'s ``follow_write`` on that instance and records, per call, its
    namespace, the store version it follows, its seconds and whether the cached snapshot is at
    that version afterwards (the write extended it)."""

    def __init__(self, cache: SnapshotCache) -> None:
        self.calls: list[dict[str, Any]] = []
        self._cache = cache
        self._original: Callable[[GraphWriteBatch, int], None] = cache.follow_write
        cache.__dict__["follow_write"] = self._timed

    def _timed(self, batch: GraphWriteBatch, version: int) -> None:
        started = time.perf_counter()
        try:
            self._original(batch, version)
        finally:
            seconds = time.perf_counter() - started
            self.calls.append(
                {
                    "namespace": batch.namespace,
                    "version": version,
                    "seconds": seconds,
                    "passages": len(batch.passages),
                }
            )

    def remove(self) -> None:
        self._cache.__dict__.pop("follow_write", None)


def load_corpus(path: Path, limit: int | None) -> list[NewDocument]:
    corpus = json.loads(path.read_text(encoding="utf-8"))
    corpus = corpus[:limit] if limit is not None else corpus
    return [NewDocument(text=p["text"], title=p["title"]) for p in corpus]


def ingest_corpus(container: Container, namespace: str, docs: list[NewDocument], desc: str) -> float:
    """Submit ``docs`` (in request-sized chunks) and run the worker until they are indexed;
    returns the wall time in seconds. Raises when a job does not succeed."""
    started = time.perf_counter()
    job_ids = [
        container.submit_documents(namespace, docs[i : i + SUBMIT_CHUNK]).job_id
        for i in range(0, len(docs), SUBMIT_CHUNK)
    ]
    jobs = drain_showing_all(container.worker(), container.jobs, job_ids, Progress(len(docs), desc, "doc"))
    seconds = time.perf_counter() - started
    for job in jobs:
        if job.status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"{desc}: job {job.id} ended {job.status}: {job.last_error}")
    return seconds


def freshness(base: Settings, work: Path, inputs: Inputs, rec: Recorder, part: PartResult) -> None:
    container = Container.from_settings(fresh_settings(base, work / "freshness", extractor="offline"))
    try:
        container.migrate()
        container.documents.create_namespace(NAMESPACE)
        ingest_embedder(container).embed(["warm-up"])  # the model loads outside the timings
        docs = load_corpus(inputs.twowiki_corpus, inputs.freshness_documents)
        ingest_s = ingest_corpus(container, NAMESPACE, docs, "bench 2wiki")
        stats = container.stats(NAMESPACE)
        rec.figure(part, "corpus_documents", len(docs))
        rec.figure(
            part, "graph", {"passages": stats.passages, "entities": stats.entities, "facts": stats.facts}
        )
        rec.figure(part, "corpus_ingest_s", round(ingest_s, 1), "s")
        rec.figure(part, "corpus_passages_per_s", round(stats.passages / ingest_s, 2), "passages/s")
        started = time.perf_counter()
        container.query(NAMESPACE, "warm-up", top_k=10)  # builds the snapshot
        rec.figure(part, "snapshot_build_ms", round(elapsed_ms(started), 1), "ms")

        timer = FollowWriteTimer(container.snapshots)
        try:
            started = time.perf_counter()
            sub = container.submit_documents(NAMESPACE, [NewDocument(text=NEW_TEXT, title=NEW_TITLE)])
            container.worker().drain()
            job_s = time.perf_counter() - started
        finally:
            timer.remove()
        job = container.jobs.get(sub.job_id)
        if job.status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"the new document's job ended {job.status}: {job.last_error}")
        started = time.perf_counter()
        result = container.query(NAMESPACE, NEW_QUESTION, top_k=10)
        query_ms = elapsed_ms(started)
        new_id = sub.document_ids[0]
        ranks = [i + 1 for i, p in enumerate(result.passages) if p.document_id == new_id]
        calls = [c for c in timer.calls if c["namespace"] == NAMESPACE]
        update_s = calls[-1]["seconds"] if calls else None
        snapshot_version = container.snapshots.get(NAMESPACE).version
        extended = bool(calls) and snapshot_version == calls[-1]["version"]
        rec.figure(part, "new_document_job_s", round(job_s, 3), "s")
        rec.figure(part, "snapshot_update_s", None if update_s is None else round(update_s, 4), "s")
        rec.figure(part, "snapshot_extended", extended)
        rec.figure(part, "first_query_ms", round(query_ms, 1), "ms")
        rec.figure(part, "first_query_mode", str(result.mode))
        rec.figure(part, "returned_at_rank", ranks[0] if ranks else None)
        rec.check(part, "snapshot update after a one-document write (s)", _r(update_s), 0.5, "<=")
        rec.check(part, "first query after the job returns the new document", bool(ranks), True, "is")
    finally:
        container.close()


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
