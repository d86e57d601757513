"""The ingestion worker: claims jobs, runs ``pipeline.ingest`` on them, records progress.

Runs as a thread inside ``hippograph serve`` (embedded default) or as ``hippograph worker``
processes (deployment). Documents are processed in groups; each document's outcome is recorded
as soon as it is written, so a crash loses at most the group in hand, and the retry skips
documents already indexed. A heartbeat thread keeps the job's lease while a group is extracted.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Literal

from service.domain.records import Document, DocumentStatus, IngestPayload, Job, JobStatus
from service.extraction.base import Extractor
from service.extraction.hipporag_import import ImportedExtractor
from service.extraction.openie import OutageFailsDocument
from service.jobs.liveness import certainly_dead, new_worker_id
from service.jobs.queue import JobQueue
from service.jobs.run import JobRun, JobStopped
from service.observability.logs import log_context
from service.observability.metrics import INGEST_GROUP
from service.pipeline.ingest import DocumentInput, Ingest
from service.settings import WorkerSettings
from service.stores.sql.documents import DocumentStore

logger = logging.getLogger(__name__)


class Worker:
    """Claims jobs from the queue and runs the ingestion use case on them."""

    def __init__(
        self,
        *,
        jobs: JobQueue,
        documents: DocumentStore,
        ingest: Ingest,
        settings: WorkerSettings,
        worker_id: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._jobs = jobs
        self._documents = documents
        self._ingest = ingest
        self._settings = settings
        self.worker_id = worker_id or new_worker_id()
        self._stop = stop or threading.Event()
        self._reap_every = 20
        self._ticks = 0
        self._in_hand: str | None = None  # the job being processed, if any

    def run_once(self) -> bool:
        """Claim and process at most one job. True when a job was processed."""
        self._ticks += 1
        if self._ticks % self._reap_every == 1:
            self.take_back_from_dead()
            reaped = self._jobs.reap_stalled(self._settings.stalled_after_s)
            if reaped:
                logger.warning("reaped %d stalled job(s)", reaped)
        job = self._jobs.claim(self.worker_id)
        if job is None:
            return False
        with log_context(job_id=job.id):  # every record about the job carries its id
            self._run_claimed(job)
        return True

    def _run_claimed(self, job: Job) -> None:
        logger.info("job %s claimed (%d documents, attempt %d)", job.id, job.total, job.attempts)
        self._in_hand = job.id
        try:
            self.process(job)
        except Exception as exc:  # infrastructure failure: retry the whole job later
            logger.exception("job %s attempt failed", job.id)
            state = self._give_back(job.id, f"{exc.__class__.__name__}: {exc}")
            logger.info("job %s is %s after the failed attempt", job.id, state)
        finally:
            self._in_hand = None

    def take_back_from_dead(self) -> int:
        """Requeue the running jobs of workers known to be dead (a killed predecessor on this
        host: ``jobs/liveness.py``) now, instead of after the stall timeout. Returns how many."""
        taken = 0
        for job_id, owner in self._jobs.running_owners():
            if owner != self.worker_id and certainly_dead(owner):
                error = f"worker {owner} died (its process is gone)"
                if self._jobs.take_back(job_id, owner, error):
                    logger.warning("job %s of dead worker %s taken back", job_id, owner)
                    taken += 1
        return taken

    def _give_back(self, job_id: str, error: str) -> JobStatus | Literal["lost"]:
        """Record a failed attempt (``JobQueue.fail_attempt``). When the database itself is
        down, that write fails too: try again, backing off up to 5 s, for at most
        ``stalled_after_s`` (after which any worker's reaper requeues the job anyway), so the
        job is retried as soon as the database is back instead of sitting ``running`` until it
        is reaped."""
        deadline = time.monotonic() + self._settings.stalled_after_s
        wait = max(self._settings.poll_interval_s, 0.05)
        while True:
            try:
                return self._jobs.fail_attempt(job_id, self.worker_id, error)
            except Exception as exc:
                if self._stop.is_set() or time.monotonic() + wait > deadline:
                    raise
                logger.warning(
                    "cannot record the failed attempt of job %s (%s); again in %.2f s",
                    job_id,
                    exc.__class__.__name__,
                    wait,
                )
            self._stop.wait(wait)
            wait = min(wait * 2, 5.0)

    def release_in_hand(self) -> None:
        """Give the job being processed back to the queue now (the process is about to exit
        without waiting for the document in hand: its transaction never commits, or commits an
        idempotent write). The attempt does not count; this worker's later writes to the job
        find it lost and stop."""
        job_id = self._in_hand
        if job_id is not None and self._jobs.release(job_id, self.worker_id):
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
                self._stop.wait(self._settings.poll_interval_s)
        logger.info("worker %s stopped", self.worker_id)

    def drain(self) -> int:
        """Process jobs until the queue has none ready (used by the CLI, tests and eval)."""
        n = 0
        while self.run_once():
            n += 1
        return n

    def process(self, job: Job) -> None:
        """Index the job's pending documents group by group, recording each outcome as soon as
        it is written. Before each write the worker stops when the job was cancelled (the rest
        become ``cancelled``) or is no longer its own (reaped or deleted: it touches nothing
        more); after each write also when the worker is shutting down (the job goes back to the
        queue)."""
        payload = job.payload
        if payload is None:
            raise RuntimeError(f"job {job.id} was read without its payload")
        extractor: Extractor | None = (
            ImportedExtractor(payload.imported) if payload.imported is not None else None
        )
        if job.attempts >= job.max_attempts:
            # The last attempt: an LLM still down fails the documents it could not extract
            # (earlier attempts leave them pending and the job is retried after a backoff).
            extractor = OutageFailsDocument(extractor or self._ingest.extractor)
        ids = list(payload.document_ids)
        docs = {d.id: d for d in self._documents.get_many(job.namespace, ids)}
        # A document re-posted since this job was queued belongs to its new job.
        todo = [
            docs[i]
            for i in ids
            if i in docs and docs[i].status == DocumentStatus.PENDING and docs[i].job_id == job.id
        ]
        group_size = self._settings.group_size
        run = JobRun(
            job,
            self.worker_id,
            jobs=self._jobs,
            documents=self._documents,
            heartbeat_s=self._settings.heartbeat_s,
            shutdown=self._stop,
            # Settled by an earlier attempt, or deleted (a delete wins over its ingestion).
            already_done=len(ids) - len(todo),
        )
        with run:
            try:
                for start in range(0, len(todo), group_size):
                    run.next_group()
                    # Read again: those deleted (or being deleted) since the job started are skipped.
                    chunk = todo[start : start + group_size]
                    keep = set(run.still_pending([d.id for d in chunk]))
                    group = [_input(d, payload) for d in chunk if d.id in keep]
                    run.skipped(len(chunk) - len(group))
                    if group:
                        with INGEST_GROUP.time():
                            self._ingest(job.namespace, group, run, extractor=extractor)
            except JobStopped as stopped:
                self._stopped(job, stopped.reason, run.done)
                return
        status = JobStatus.FAILED if ids and run.failed >= len(ids) else JobStatus.SUCCEEDED
        last_error = run.errors[0].error if status == JobStatus.FAILED and run.errors else None
        if self._jobs.finish(job.id, self.worker_id, status, last_error):
            logger.info("job %s %s: %d documents, %d failed", job.id, status, run.done, run.failed)
        else:
            logger.warning("job %s was taken from worker %s before it finished", job.id, self.worker_id)

    def _stopped(self, job: Job, reason: str, done: int) -> None:
        if reason == "cancel":
            self._jobs.finish(job.id, self.worker_id, JobStatus.CANCELLED)
            logger.info("job %s cancelled after %d documents", job.id, done)
        elif reason == "shutdown":
            self._jobs.release(job.id, self.worker_id)
            logger.info("job %s released for another worker after %d documents", job.id, done)
        else:
            logger.warning(
                "job %s is no longer worker %s's (reaped or deleted); stopped", job.id, self.worker_id
            )


def _input(doc: Document, payload: IngestPayload) -> DocumentInput:
    """What ingestion reads of a document: imported passages are used as they were indexed."""
    texts = [p.text for p in (payload.imported or {}).get(doc.id, ())]
    passages = tuple(t for t in texts if t is not None)
    return DocumentInput(
        doc.id,
        doc.title,
        doc.text,
        split=payload.split,
        passages=passages if texts and len(passages) == len(texts) else None,
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


def start_background_worker(worker: Worker, stop: threading.Event) -> BackgroundWorker:
    """Run ``worker`` (built with ``stop`` as its stop event) in a daemon thread."""
    thread = threading.Thread(target=worker.run_forever, name="hippograph-worker", daemon=True)
    thread.start()
    return BackgroundWorker(worker, thread, stop)
