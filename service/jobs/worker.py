"""The ingestion worker: claims jobs, runs ``pipeline.ingest`` on them, records progress.

Runs as a thread inside ``hippograph serve`` (embedded default) or as ``hippograph worker``
processes (deployment). Documents are processed in groups; each document's outcome is recorded
as soon as it is written, so a crash loses at most the group in hand, and the retry skips
documents already indexed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from service.container import Container
from service.extraction.base import Extractor
from service.extraction.hipporag_import import ImportedExtractor
from service.jobs.queue import Job
from service.pipeline.ingest import DocumentInput, DocumentOutcome, ingest

logger = logging.getLogger(__name__)

GROUP_SIZE = 64


class Worker:
    def __init__(self, container: Container, *, worker_id: str | None = None) -> None:
        self._c = container
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._reap_every = 20
        self._ticks = 0

    def run_once(self) -> bool:
        """Claim and process at most one job. True when a job was processed."""
        self._ticks += 1
        if self._ticks % self._reap_every == 1:
            reaped = self._c.jobs.reap_stalled(self._c.settings.worker.stalled_after_s)
            if reaped:
                logger.warning("requeued %d stalled job(s)", reaped)
        job = self._c.jobs.claim(self.worker_id)
        if job is None:
            return False
        logger.info("job %s claimed (%d documents, attempt %d)", job.id, job.total, job.attempts)
        try:
            self.process(job)
        except Exception as exc:  # infrastructure failure: retry the whole job later
            logger.exception("job %s attempt failed", job.id)
            state = self._c.jobs.fail_attempt(job.id, f"{exc.__class__.__name__}: {exc}")
            if state == "failed":
                pending = job.payload.get("document_ids", [])
                self._c.documents.set_status_many(job.namespace, pending, "failed")
        return True

    def run_forever(self, stop: threading.Event) -> None:
        logger.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                logger.exception("worker loop error")
                busy = False
            if not busy:
                stop.wait(self._c.settings.worker.poll_interval_s)
        logger.info("worker %s stopped", self.worker_id)

    def drain(self) -> int:
        """Process jobs until the queue has none ready (used by the CLI, tests and eval)."""
        n = 0
        while self.run_once():
            n += 1
        return n

    def _extractor_for(self, job: Job) -> Extractor:
        if "extractions" in job.payload:
            return ImportedExtractor(job.payload["extractions"])
        return self._c.extractor

    def process(self, job: Job) -> None:
        c = self._c
        ns = job.namespace
        extractor = self._extractor_for(job)
        split = bool(job.payload.get("split", True))
        ids = list(job.payload.get("document_ids", []))
        docs = {d.id: d for d in c.documents.get_many(ns, ids)}
        errors: list[dict] = list(job.errors)
        done = sum(1 for i in ids if i in docs and docs[i].status in ("indexed", "failed"))
        todo = [docs[i] for i in ids if i in docs and docs[i].status == "pending"]
        failed = {e["document_id"] for e in errors}

        def record(outcome: DocumentOutcome) -> None:
            nonlocal done
            done += 1
            if outcome.ok:
                c.documents.set_status(ns, outcome.document_id, "indexed")
            else:
                c.documents.set_status(ns, outcome.document_id, "failed", outcome.error)
                if outcome.document_id not in failed:
                    failed.add(outcome.document_id)
                    errors.append({"document_id": outcome.document_id, "error": outcome.error})
            c.jobs.record_progress(job.id, done=done, errors=errors)

        for start in range(0, len(todo), GROUP_SIZE):
            if not c.jobs.heartbeat(job.id):
                remaining = [d.id for d in todo[start:]]
                c.documents.set_status_many(ns, remaining, "cancelled")
                c.jobs.finish(job.id, "cancelled")
                logger.info("job %s cancelled after %d documents", job.id, done)
                return
            group = [
                DocumentInput(d.id, d.title, d.text, split=split) for d in todo[start : start + GROUP_SIZE]
            ]
            ingest(
                ns,
                group,
                store=c.graph,
                embedder=c.embedder,
                extractor=extractor,
                options=c.ingest_options,
                on_document=record,
            )
        status = "failed" if ids and len(failed) >= len(ids) else "succeeded"
        c.jobs.finish(job.id, status, errors[0]["error"] if status == "failed" and errors else None)
        logger.info("job %s %s: %d documents, %d failed", job.id, status, done, len(failed))


def start_background_worker(container: Container) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    worker = Worker(container)
    thread = threading.Thread(target=worker.run_forever, args=(stop,), name="hippograph-worker", daemon=True)
    thread.start()
    return thread, stop
