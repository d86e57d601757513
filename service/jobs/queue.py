"""The durable job queue: a SQL table.

* ``enqueue`` runs inside the caller's transaction, so a job exists iff its documents do.
* ``claim`` is one ``UPDATE ... RETURNING``; on PostgreSQL the candidate row is picked with
  ``FOR UPDATE SKIP LOCKED`` so many workers never take the same job; on SQLite the single
  writer lock (BEGIN IMMEDIATE) gives the same guarantee.
* Running jobs heartbeat; a job whose heartbeat is older than ``stalled_after`` (its worker
  died) is put back in the queue, or failed once it has used ``max_attempts``; a worker that
  knows another one is dead (``jobs/liveness.py``) takes its jobs back at once. Failures are
  retried with exponential backoff up to ``max_attempts``.
* A worker's writes to its job are fenced by its ``worker_id``: after a reap, a cancel or a
  namespace delete, the old owner's heartbeat says ``"lost"``/``"cancel"`` and it stops.
* Document statuses follow their job (``documents.job_id``), in the job's own transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Engine, Row, and_, func, select, true, update

from service.domain.records import (
    DocumentError,
    DocumentStatus,
    IngestPayload,
    Job,
    JobStatus,
    Lease,
)
from service.errors import Conflict, JobNotFound
from service.stores.sql import tables as t
from service.stores.sql.db import reader
from service.stores.sql.rows import record

QUEUED, RUNNING = JobStatus.QUEUED, JobStatus.RUNNING
_SETTLED_AS = {JobStatus.CANCELLED: DocumentStatus.CANCELLED, JobStatus.FAILED: DocumentStatus.FAILED}


def _now() -> datetime:
    return datetime.now(UTC)


def _settle_pending_documents(
    conn: Connection, job_ids: list[str], status: DocumentStatus, error: str | None
) -> None:
    """Documents still ``pending`` under these jobs take the job's final status. Only documents
    whose ``job_id`` is one of these: a document re-posted since then belongs to its new job."""
    if job_ids:
        conn.execute(
            update(t.documents)
            .where(t.documents.c.job_id.in_(job_ids), t.documents.c.status == DocumentStatus.PENDING)
            .values(status=status, error=error, updated_at=_now())
        )


def _take_back(conn: Connection, running: Any, error: str) -> int:
    """The jobs matching ``running`` (running jobs whose worker is gone) go back to the queue,
    or fail with their pending documents when their attempts are used up."""
    exhausted = conn.execute(
        update(t.jobs)
        .where(running, t.jobs.c.attempts >= t.jobs.c.max_attempts)
        .values(status=JobStatus.FAILED, worker_id=None, finished_at=_now(), last_error=error)
        .returning(t.jobs.c.id)
    ).all()
    _settle_pending_documents(conn, [r.id for r in exhausted], DocumentStatus.FAILED, error)
    requeued = conn.execute(
        update(t.jobs)
        .where(running)
        .values(status=QUEUED, worker_id=None, run_after=_now(), last_error=error)
    )
    return len(exhausted) + (requeued.rowcount or 0)


# Every column but the payload: what status reads (the API's job routes, progress) select. An
# import's payload carries every passage's extraction (megabytes of JSON); parsed on each status
# poll it held the interpreter for most of an import's time (docs/benchmarks.md, part f).
_STATUS_COLUMNS = [c for c in t.jobs.c if c.name != "payload"]


def _job(row: Row[Any]) -> Job:
    """The job of a row; its payload only when the row was read with it (the worker's claim)."""
    values = row._mapping
    return record(
        Job,
        row,
        status=JobStatus(row.status),
        payload=IngestPayload.from_json(values["payload"] or {}) if "payload" in values else None,
        errors=[DocumentError(e["document_id"], e["error"]) for e in row.errors or []],
        cancel_requested=bool(row.cancel_requested),
    )


class JobQueue:
    def __init__(self, engine: Engine, *, max_attempts: int = 3, backoff_s: float = 2.0) -> None:
        self._engine = engine
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s

    def enqueue(self, conn: Connection, namespace: str, payload: IngestPayload) -> str:
        """Queue an ingestion job inside the caller's transaction; its id."""
        job_id = str(uuid.uuid4())
        created = _now()
        conn.execute(
            t.jobs.insert().values(
                id=job_id,
                namespace=namespace,
                kind="ingest",
                status=QUEUED,
                payload=payload.to_json(),
                total=len(payload.document_ids),
                done=0,
                errors=[],
                attempts=0,
                max_attempts=self._max_attempts,
                cancel_requested=False,
                last_error=None,
                worker_id=None,
                run_after=created,
                heartbeat_at=None,
                created_at=created,
            )
        )
        return job_id

    def claim(self, worker_id: str) -> Job | None:
        with self._engine.begin() as conn:
            deleting = (
                select(t.namespaces.c.name)
                .where(t.namespaces.c.name == t.jobs.c.namespace, t.namespaces.c.deleting.is_(True))
                .exists()
            )
            candidate = (
                select(t.jobs.c.id)
                .where(t.jobs.c.status == QUEUED, t.jobs.c.run_after <= _now(), ~deleting)
                .order_by(t.jobs.c.created_at, t.jobs.c.id)
                .limit(1)
            )
            if conn.dialect.name == "postgresql":
                candidate = candidate.with_for_update(skip_locked=True)
            now = _now()
            row = conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == candidate.scalar_subquery(), t.jobs.c.status == QUEUED)
                .values(
                    status=RUNNING,
                    worker_id=worker_id,
                    attempts=t.jobs.c.attempts + 1,
                    started_at=func.coalesce(t.jobs.c.started_at, now),
                    heartbeat_at=now,
                )
                .returning(*t.jobs.c)
            ).first()
        return _job(row) if row is not None else None

    # --- the running job's owner -----------------------------------------------------------
    # Every write a worker makes to its job is fenced by ``worker_id`` and ``status = 'running'``:
    # once the job was cancelled, reaped (and perhaps claimed by another worker) or deleted with
    # its namespace, the old owner's writes match no row and it learns that it must stop.

    def _owned(self, job_id: str, worker_id: str):
        return and_(t.jobs.c.id == job_id, t.jobs.c.worker_id == worker_id, t.jobs.c.status == RUNNING)

    def heartbeat(self, job_id: str, worker_id: str) -> Lease:
        """Refresh the heartbeat of a job this worker runs, and say whether to go on:
        ``"held"`` (go on), ``"cancel"`` (a cancel was requested: stop and finish it as
        cancelled) or ``"lost"`` (no longer this worker's job: stop without touching it)."""
        return self._renew(job_id, worker_id)

    def record_progress(
        self, job_id: str, worker_id: str, *, done: int, errors: list[DocumentError]
    ) -> Lease:
        """Store progress (a heartbeat too) and answer like ``heartbeat``; nothing is written
        when the job is no longer this worker's."""
        return self._renew(job_id, worker_id, done=done, errors=[asdict(e) for e in errors])

    def _renew(self, job_id: str, worker_id: str, **values: Any) -> Lease:
        """Refresh the heartbeat (and write ``values``) of a job this worker holds; the lease."""
        with self._engine.begin() as conn:
            row = conn.execute(
                update(t.jobs)
                .where(self._owned(job_id, worker_id))
                .values(heartbeat_at=_now(), **values)
                .returning(t.jobs.c.cancel_requested)
            ).first()
        if row is None:
            return "lost"
        return "cancel" if row.cancel_requested else "held"

    def finish(self, job_id: str, worker_id: str, status: JobStatus, last_error: str | None = None) -> bool:
        """End a job this worker runs with a terminal ``status``; False (nothing written) when it
        is no longer this worker's. When cancelled, its documents still pending become
        ``cancelled``; when failed, ``failed`` (same transaction)."""
        status = JobStatus(status)  # ValueError for a string that names no status
        if not status.terminal:
            raise ValueError(f"not a terminal job status: {status!r}")
        with self._engine.begin() as conn:
            result = conn.execute(
                update(t.jobs)
                .where(self._owned(job_id, worker_id))
                .values(status=status, finished_at=_now(), last_error=last_error)
            )
            if result.rowcount != 1:
                return False
            if status in _SETTLED_AS:
                _settle_pending_documents(conn, [job_id], _SETTLED_AS[status], last_error)
            return True

    def fail_attempt(self, job_id: str, worker_id: str, error: str) -> JobStatus | Literal["lost"]:
        """After an infrastructure failure: requeue with exponential backoff, or fail for good
        (with its pending documents) after ``max_attempts``. Returns the job's new status, or
        ``"lost"`` when it is no longer this worker's."""
        with self._engine.begin() as conn:
            row = conn.execute(
                select(t.jobs.c.attempts, t.jobs.c.max_attempts)
                .where(self._owned(job_id, worker_id))
                .with_for_update()
            ).first()
            if row is None:
                return "lost"
            if row.attempts >= row.max_attempts:
                conn.execute(
                    update(t.jobs)
                    .where(self._owned(job_id, worker_id))
                    .values(status=JobStatus.FAILED, finished_at=_now(), last_error=error, worker_id=None)
                )
                _settle_pending_documents(conn, [job_id], DocumentStatus.FAILED, error)
                return JobStatus.FAILED
            delay = timedelta(seconds=self._backoff_s * (2 ** (row.attempts - 1)))
            conn.execute(
                update(t.jobs)
                .where(self._owned(job_id, worker_id))
                .values(status=QUEUED, run_after=_now() + delay, last_error=error, worker_id=None)
            )
            return QUEUED

    def release(self, job_id: str, worker_id: str) -> bool:
        """Give a running job back to the queue untouched (the worker is shutting down): the
        attempt does not count, and the next claim skips documents already indexed."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(t.jobs)
                .where(self._owned(job_id, worker_id))
                .values(status=QUEUED, worker_id=None, run_after=_now(), attempts=t.jobs.c.attempts - 1)
            )
            return result.rowcount == 1

    def reap_stalled(self, stalled_after_s: float) -> int:
        """Running jobs whose worker stopped heartbeating (it died) go back to the queue, or fail
        for good (with their pending documents) when they have used all their attempts: a job
        that kills its worker every time must not loop forever. Returns how many were reaped."""
        cutoff = _now() - timedelta(seconds=stalled_after_s)
        stalled = and_(t.jobs.c.status == RUNNING, t.jobs.c.heartbeat_at < cutoff)
        with self._engine.begin() as conn:
            return _take_back(conn, stalled, "worker stopped heartbeating")

    def running_owners(self) -> list[tuple[str, str]]:
        """(job id, worker id) of every running job."""
        with reader(self._engine) as conn:
            rows = conn.execute(
                select(t.jobs.c.id, t.jobs.c.worker_id).where(t.jobs.c.status == RUNNING)
            ).all()
        return [(r.id, r.worker_id) for r in rows if r.worker_id]

    def take_back(self, job_id: str, dead_worker_id: str, error: str) -> bool:
        """Requeue (or fail, attempts used up) a running job of a worker known to be dead,
        without waiting for its heartbeat to go stale; fenced by that worker's id, so a job
        that moved on meanwhile is not touched. True when the job was taken back."""
        with self._engine.begin() as conn:
            return _take_back(conn, self._owned(job_id, dead_worker_id), error) == 1

    def stop_namespace_jobs(self, conn: Connection, namespace: str) -> list[str]:
        """Inside the caller's transaction: cancel the namespace's queued jobs (and their
        documents), ask its running ones to cancel, and return the ids of those still running.
        Row locks (PostgreSQL) / the write lock (SQLite) keep a concurrent ``claim`` from starting
        a job this call has seen as queued."""
        active = and_(t.jobs.c.namespace == namespace, t.jobs.c.status.in_((QUEUED, RUNNING)))
        rows = conn.execute(select(t.jobs.c.id, t.jobs.c.status).where(active).with_for_update()).all()
        queued = [r.id for r in rows if r.status == QUEUED]
        running = [r.id for r in rows if r.status == RUNNING]
        if queued:
            conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id.in_(queued), t.jobs.c.status == QUEUED)
                .values(status=JobStatus.CANCELLED, cancel_requested=True, finished_at=_now())
            )
            _settle_pending_documents(conn, queued, DocumentStatus.CANCELLED, None)
        if running:
            conn.execute(update(t.jobs).where(t.jobs.c.id.in_(running)).values(cancel_requested=True))
        return running

    def cancel(self, job_id: str) -> Job:
        """Queued jobs are cancelled at once (their documents too); running ones stop before their
        next write, and their worker cancels the documents it did not reach. The row is locked
        (PostgreSQL), so a concurrent claim either happened before (→ running) or waits."""
        with self._engine.begin() as conn:
            row = conn.execute(
                select(*_STATUS_COLUMNS).where(t.jobs.c.id == job_id).with_for_update()
            ).first()
            if row is None:
                raise JobNotFound.for_id(job_id)
            if JobStatus(row.status).terminal:
                raise Conflict(f"job {job_id} already {row.status}")
            if row.status == QUEUED:
                conn.execute(
                    update(t.jobs)
                    .where(t.jobs.c.id == job_id)
                    .values(status=JobStatus.CANCELLED, cancel_requested=True, finished_at=_now())
                )
                _settle_pending_documents(conn, [job_id], DocumentStatus.CANCELLED, None)
            else:
                conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(cancel_requested=True))
        return self.get(job_id)

    def queue_state(self) -> tuple[dict[str, int], float | None]:
        """Jobs by status (every status, zeros included), and how many seconds the oldest job
        ready to run has waited (None when none is)."""
        now = _now()
        with reader(self._engine) as conn:
            rows = conn.execute(select(t.jobs.c.status, func.count()).group_by(t.jobs.c.status)).all()
            ready = and_(t.jobs.c.status == QUEUED, t.jobs.c.run_after <= now)
            oldest = conn.execute(select(func.min(t.jobs.c.run_after)).where(ready)).scalar()
        counts = {s.value: 0 for s in JobStatus} | {str(r[0]): int(r[1]) for r in rows}
        if oldest is None:
            return counts, None
        if oldest.tzinfo is None:  # SQLite hands back naive datetimes (stored as UTC)
            oldest = oldest.replace(tzinfo=UTC)
        return counts, max(0.0, (now - oldest).total_seconds())

    def done_count(self, job_ids: Collection[str]) -> int:
        """Documents settled over these jobs: progress without reading their payloads (an
        import's carry every passage's extraction)."""
        with reader(self._engine) as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(t.jobs.c.done), 0)).where(t.jobs.c.id.in_(list(job_ids)))
            ).scalar_one()
        return int(total)

    def get(self, job_id: str) -> Job:
        with reader(self._engine) as conn:
            row = conn.execute(select(*_STATUS_COLUMNS).where(t.jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound.for_id(job_id)
        return _job(row)

    def list(
        self,
        *,
        namespace: str | None,
        status: JobStatus | None,
        limit: int,
        offset: int,
        within: Collection[str] | None = None,
    ) -> tuple[list[Job], int]:
        """A page of jobs, newest first, and how many match. ``within`` (an API key's
        namespaces) keeps only jobs of those namespaces; None: every namespace."""
        conditions: list[ColumnElement[bool]] = [true()]
        if namespace:
            conditions.append(t.jobs.c.namespace == namespace)
        if within is not None:
            conditions.append(t.jobs.c.namespace.in_(sorted(within)))
        if status:
            conditions.append(t.jobs.c.status == status)
        where = and_(*conditions)
        with reader(self._engine) as conn:
            total = int(conn.execute(select(func.count()).select_from(t.jobs).where(where)).scalar_one())
            rows = conn.execute(
                select(*_STATUS_COLUMNS)
                .where(where)
                .order_by(t.jobs.c.created_at.desc(), t.jobs.c.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return [_job(r) for r in rows], total
