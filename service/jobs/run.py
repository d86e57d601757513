"""One job run: the lease a worker holds on a job, the job's progress and errors, and the checks
that stop writing when the job is cancelled, taken away or the worker shuts down.

``JobRun`` is the ``IngestObserver`` that ``pipeline.ingest`` reports to; its methods raise
``JobStopped`` to stop the group in hand.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from service.domain.records import DocumentError, DocumentStatus, Job, Lease
from service.jobs.queue import JobQueue
from service.observability.metrics import DOCUMENTS
from service.pipeline.ingest import DocumentOutcome
from service.stores.sql.documents import DocumentStore

logger = logging.getLogger(__name__)


class JobStopped(Exception):
    """Raised between documents to stop working on a job, saying why."""

    def __init__(self, reason: str) -> None:  # "cancel" | "lost" | "shutdown"
        super().__init__(reason)
        self.reason = reason


_LEASE_ORDER = {"held": 0, "cancel": 1, "lost": 2}


class Heartbeat:
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

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class JobRun:
    """A worker's run of one job: records each document's outcome (document status, job
    progress and errors) as soon as it is known, and stops the run when it must.

    Use as a context manager: the heartbeat thread runs while the block does."""

    def __init__(
        self,
        job: Job,
        worker_id: str,
        *,
        jobs: JobQueue,
        documents: DocumentStore,
        heartbeat_s: float,
        shutdown: threading.Event,
        already_done: int = 0,
    ) -> None:
        self.job = job
        self._worker_id = worker_id
        self._jobs = jobs
        self._documents = documents
        self._shutdown = shutdown
        self._lease = Heartbeat(jobs, job.id, worker_id, heartbeat_s)
        self.errors: list[DocumentError] = list(job.errors)
        self._failed = {e.document_id for e in self.errors}
        self.done = already_done  # documents of the job settled, earlier attempts included

    def __enter__(self) -> JobRun:
        self._lease.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lease.__exit__(*exc)

    @property
    def failed(self) -> int:
        """How many of the job's documents failed (in this run and earlier attempts)."""
        return len(self._failed)

    def go_on(self) -> None:
        """Raise ``JobStopped`` when the job was cancelled or lost, or the worker is stopping."""
        if self._lease.state != "held":
            raise JobStopped(self._lease.state)
        if self._shutdown.is_set():
            raise JobStopped("shutdown")

    def next_group(self) -> None:
        """Before a group is extracted: ask the queue now, then ``go_on``."""
        self._lease.check()
        self.go_on()

    # --- IngestObserver ----------------------------------------------------------------------

    def before_write(self, document_ids: Sequence[str]) -> list[str]:
        # Asked of the queue right before each graph write: a job cancelled, reaped or deleted
        # meanwhile gets no further writes from this worker. (A shutdown still lets the document
        # in hand be written: its extraction is done.)
        if self._lease.check() != "held":
            raise JobStopped(self._lease.state)
        # Under the namespace's write lock, which a document delete takes for its graph step
        # too: a document deleted (or deleted and posted again) since it was read is not
        # written, and one written here is deleted after this write if its delete comes later.
        return self.still_pending(document_ids)

    def still_pending(self, document_ids: Sequence[str]) -> list[str]:
        """Those of ``document_ids`` that are still this job's pending documents, read now."""
        rows = {d.id: d for d in self._documents.get_many(self.job.namespace, list(document_ids))}
        return [
            i
            for i in document_ids
            if i in rows and rows[i].status == DocumentStatus.PENDING and rows[i].job_id == self.job.id
        ]

    def skipped(self, count: int) -> None:
        """``count`` documents of the job were deleted before this run reached them."""
        if count:
            self.done += count
            DOCUMENTS.labels("deleted").inc(count)
            job_id, worker = self.job.id, self._worker_id
            self._lease.report(self._jobs.record_progress(job_id, worker, done=self.done, errors=self.errors))

    def document_done(self, outcome: DocumentOutcome) -> None:
        ns, job_id = self.job.namespace, self.job.id
        self.done += 1
        if outcome.deleted:
            DOCUMENTS.labels("deleted").inc()
        elif outcome.ok:
            if self._documents.set_status(
                ns,
                outcome.document_id,
                DocumentStatus.INDEXED,
                job_id=job_id,
                extraction=outcome.extraction,
                extractor=outcome.extractor,
            ):
                DOCUMENTS.labels("indexed").inc()
            else:
                # Marked ``deleting`` after ``before_write`` let it through: the delete's graph
                # step waits for this write's lock, then removes what was written.
                DOCUMENTS.labels("deleted").inc()
        else:
            DOCUMENTS.labels("failed").inc()
            self._documents.set_status(
                ns, outcome.document_id, DocumentStatus.FAILED, outcome.error, job_id=job_id
            )
            if outcome.document_id not in self._failed:
                self._failed.add(outcome.document_id)
                self.errors.append(DocumentError(outcome.document_id, outcome.error or "failed"))
        answer = self._jobs.record_progress(job_id, self._worker_id, done=self.done, errors=self.errors)
        # Only remembered here: the documents of a group are written together, so every outcome
        # of the group is recorded before the run may stop (``before_write``, ``next_group``).
        self._lease.report(answer)
