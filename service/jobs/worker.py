"""The ingestion worker: claims jobs, runs ``pipeline.ingest`` on them, records progress.

Runs as a thread inside ``hippograph serve`` (embedded default) or as ``hippograph worker``
processes (deployment). Documents are processed in groups; each document's outcome is recorded
as soon as it is written, so a crash loses at most the group in hand, and the retry skips
documents already indexed. A heartbeat thread keeps the job's lease while a group is extracted.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass

from service.container import Container
from service.extraction.base import Extractor
from service.extraction.hipporag_import import ImportedExtractor
from service.jobs.queue import Job, JobQueue, Lease
from service.pipeline.ingest import DocumentInput, DocumentOutcome, ingest

logger = logging.getLogger(__name__)

GROUP_SIZE = 64


class _JobStopped(Exception):
    """Raised between documents to stop working on a job, saying why."""

    def __init__(self, reason: str) -> None:  # "cancel" | "lost" | "shutdown"
        super().__init__(reason)
        self.reason = reason


_LEASE_ORDER = {"held": 0, "cancel": 1, "lost": 2}


class _Heartbeat:
    """Keeps a running job's heartbeat fresh from a thread every ``interval_s`` — extracting a
    group with an LLM can take longer than the stall timeout — and remembers the queue's answer
    (``held``, ``cancel`` or ``lost``) for the worker to act on between documents.

    The state only moves forward (held → cancel → lost): two threads report answers, and an
    older "held" must never hide a newer "cancel" or "lost". A cancelled job keeps its lease
    renewed until the worker has stopped, so no reaper hands it to anyone else meanwhile."""

    def __init__(self, jobs: JobQueue, job_id: str, worker_id: str, interval_s: float) -> None:
        self._jobs, self._job_id, self._worker_id = jobs, job_id, worker_id
        self._interval = max(interval_s, 0.05)
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id[:8]}", daemon=True)
        self._state: Lease = "held"

    @property
    def state(self) -> Lease:
        return self._state

    def report(self, answer: Lease) -> Lease:
        """Record an answer from the queue; returns the (possibly later) current state."""
        with self._lock:
            if _LEASE_ORDER[answer] > _LEASE_ORDER[self._state]:
                self._state = answer
            return self._state

    def check(self) -> Lease:
        """Heartbeat now, synchronously."""
        return self.report(self._jobs.heartbeat(self._job_id, self._worker_id))

    def _run(self) -> None:
        while not self._done.wait(self._interval) and self.state != "lost":
            try:
                self.check()
            except Exception:  # a store hiccup: the next tick tries again
                logger.warning("heartbeat of job %s failed", self._job_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class Worker:
    def __init__(
        self, container: Container, *, worker_id: str | None = None, stop: threading.Event | None = None
    ) -> None:
        self._c = container
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = stop or threading.Event()
        self._reap_every = 20
        self._ticks = 0
        self._in_hand: str | None = None  # the job being processed, if any

    def run_once(self) -> bool:
        """Claim and process at most one job. True when a job was processed."""
        self._ticks += 1
        if self._ticks % self._reap_every == 1:
            reaped = self._c.jobs.reap_stalled(self._c.settings.worker.stalled_after_s)
            if reaped:
                logger.warning("reaped %d stalled job(s)", reaped)
        job = self._c.jobs.claim(self.worker_id)
        if job is None:
            return False
        logger.info("job %s claimed (%d documents, attempt %d)", job.id, job.total, job.attempts)
        self._in_hand = job.id
        try:
            self.process(job)
        except Exception as exc:  # infrastructure failure: retry the whole job later
            logger.exception("job %s attempt failed", job.id)
            state = self._c.jobs.fail_attempt(job.id, self.worker_id, f"{exc.__class__.__name__}: {exc}")
            logger.info("job %s is %s after the failed attempt", job.id, state)
        finally:
            self._in_hand = None
        return True

    def release_in_hand(self) -> None:
        """Give the job being processed back to the queue now (the process is about to exit
        without waiting for the document in hand: its transaction never commits, or commits an
        idempotent write). The attempt does not count; this worker's later writes to the job
        find it lost and stop."""
        job_id = self._in_hand
        if job_id is not None and self._c.jobs.release(job_id, self.worker_id):
            logger.warning("job %s released unfinished at shutdown", job_id)

    def run_forever(self) -> None:
        """Process jobs until the stop event is set. A job in hand when it is set goes back to
        the queue after the document being written (see ``process``)."""
        logger.info("worker %s started", self.worker_id)
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                logger.exception("worker loop error")
                busy = False
            if not busy:
                self._stop.wait(self._c.settings.worker.poll_interval_s)
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
        """Index the job's pending documents group by group, recording each outcome as soon as
        it is written. Before each write the worker stops when the job was cancelled (the rest
        become ``cancelled``) or is no longer its own (reaped or deleted: it touches nothing
        more); after each write also when the worker is shutting down (the job goes back to the
        queue)."""
        c = self._c
        ns = job.namespace
        extractor = self._extractor_for(job)
        split = bool(job.payload.get("split", True))
        ids = list(job.payload.get("document_ids", []))
        docs = {d.id: d for d in c.documents.get_many(ns, ids)}
        errors: list[dict] = list(job.errors)
        done = sum(1 for i in ids if i in docs and docs[i].status in ("indexed", "failed"))
        # A document re-posted since this job was queued belongs to its new job.
        todo = [
            docs[i] for i in ids if i in docs and docs[i].status == "pending" and docs[i].job_id == job.id
        ]
        failed = {e["document_id"] for e in errors}

        with _Heartbeat(c.jobs, job.id, self.worker_id, c.settings.worker.heartbeat_s) as lease:

            def go_on() -> None:
                if lease.state != "held":
                    raise _JobStopped(lease.state)
                if self._stop.is_set():
                    raise _JobStopped("shutdown")

            def record(outcome: DocumentOutcome) -> None:
                nonlocal done
                done += 1
                if outcome.ok:
                    c.documents.set_status(ns, outcome.document_id, "indexed", job_id=job.id)
                else:
                    c.documents.set_status(ns, outcome.document_id, "failed", outcome.error, job_id=job.id)
                    if outcome.document_id not in failed:
                        failed.add(outcome.document_id)
                        errors.append({"document_id": outcome.document_id, "error": outcome.error})
                lease.report(c.jobs.record_progress(job.id, self.worker_id, done=done, errors=errors))
                go_on()

            def before_write(document_id: str) -> None:
                # Asked of the queue right before each graph write: a job cancelled, reaped or
                # deleted meanwhile gets no further writes from this worker. (A shutdown still
                # lets the document in hand be written: its extraction is done.)
                if lease.check() != "held":
                    raise _JobStopped(lease.state)

            try:
                for start in range(0, len(todo), GROUP_SIZE):
                    lease.check()
                    go_on()
                    group = [
                        DocumentInput(d.id, d.title, d.text, split=split)
                        for d in todo[start : start + GROUP_SIZE]
                    ]
                    ingest(
                        ns,
                        group,
                        store=c.graph,
                        embedder=c.embedder,
                        extractor=extractor,
                        options=c.ingest_options,
                        on_document=record,
                        before_write=before_write,
                    )
            except _JobStopped as stopped:
                self._stopped(job, stopped.reason, done)
                return
        status = "failed" if ids and len(failed) >= len(ids) else "succeeded"
        last_error = errors[0]["error"] if status == "failed" and errors else None
        if c.jobs.finish(job.id, self.worker_id, status, last_error):
            logger.info("job %s %s: %d documents, %d failed", job.id, status, done, len(failed))
        else:
            logger.warning("job %s was taken from worker %s before it finished", job.id, self.worker_id)

    def _stopped(self, job: Job, reason: str, done: int) -> None:
        if reason == "cancel":
            self._c.jobs.finish(job.id, self.worker_id, "cancelled")
            logger.info("job %s cancelled after %d documents", job.id, done)
        elif reason == "shutdown":
            self._c.jobs.release(job.id, self.worker_id)
            logger.info("job %s released for another worker after %d documents", job.id, done)
        else:
            logger.warning(
                "job %s is no longer worker %s's (reaped or deleted); stopped", job.id, self.worker_id
            )


@dataclass
class BackgroundWorker:
    """The in-process worker of ``hippograph serve``."""

    worker: Worker
    thread: threading.Thread
    stop: threading.Event

    def shutdown(self, grace_s: float) -> None:
        """Stop after the document in hand; a document still not written after ``grace_s``
        seconds is abandoned and its job given back to the queue for the next start."""
        self.stop.set()
        self.thread.join(timeout=grace_s)
        if self.thread.is_alive():
            self.worker.release_in_hand()


def start_background_worker(container: Container) -> BackgroundWorker:
    stop = threading.Event()
    worker = Worker(container, stop=stop)
    thread = threading.Thread(target=worker.run_forever, name="hippograph-worker", daemon=True)
    thread.start()
    return BackgroundWorker(worker, thread, stop)
