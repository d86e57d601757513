"""The durable job queue: a SQL table.

* ``enqueue`` runs inside the caller's transaction, so a job exists iff its documents do.
* ``claim`` is one ``UPDATE ... RETURNING``; on PostgreSQL the candidate row is picked with
  ``FOR UPDATE SKIP LOCKED`` so many workers never take the same job; on SQLite the single
  writer lock (BEGIN IMMEDIATE) gives the same guarantee.
* Running jobs heartbeat; a job whose heartbeat is older than ``stalled_after`` (its worker
  died) is put back in the queue. Failures are retried with exponential backoff up to
  ``max_attempts``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, update

from service.errors import Conflict, JobNotFound
from service.stores.sql import tables as t

TERMINAL = ("succeeded", "failed", "cancelled")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    id: str
    namespace: str
    kind: str
    status: str
    payload: dict[str, Any]
    total: int
    done: int
    errors: list[dict[str, Any]]
    attempts: int
    max_attempts: int
    cancel_requested: bool
    last_error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _job(row) -> Job:
    return Job(
        id=row.id,
        namespace=row.namespace,
        kind=row.kind,
        status=row.status,
        payload=row.payload or {},
        total=row.total,
        done=row.done,
        errors=list(row.errors or []),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        cancel_requested=bool(row.cancel_requested),
        last_error=row.last_error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class JobQueue:
    def __init__(self, engine: Engine, *, max_attempts: int = 3, backoff_s: float = 2.0) -> None:
        self._engine = engine
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s

    def enqueue(
        self, conn: Connection, namespace: str, kind: str, payload: dict[str, Any], total: int
    ) -> str:
        job_id = str(uuid.uuid4())
        created = _now()
        conn.execute(
            t.jobs.insert().values(
                id=job_id,
                namespace=namespace,
                kind=kind,
                status="queued",
                payload=payload,
                total=total,
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
            candidate = (
                select(t.jobs.c.id)
                .where(t.jobs.c.status == "queued", t.jobs.c.run_after <= _now())
                .order_by(t.jobs.c.created_at, t.jobs.c.id)
                .limit(1)
            )
            if conn.dialect.name == "postgresql":
                candidate = candidate.with_for_update(skip_locked=True)
            now = _now()
            row = conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == candidate.scalar_subquery(), t.jobs.c.status == "queued")
                .values(
                    status="running",
                    worker_id=worker_id,
                    attempts=t.jobs.c.attempts + 1,
                    started_at=func.coalesce(t.jobs.c.started_at, now),
                    heartbeat_at=now,
                )
                .returning(*t.jobs.c)
            ).first()
        return _job(row) if row is not None else None

    def heartbeat(self, job_id: str) -> bool:
        """Refresh the heartbeat; False when the job was cancelled meanwhile (stop working)."""
        with self._engine.begin() as conn:
            conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id, t.jobs.c.status == "running")
                .values(heartbeat_at=_now())
            )
            return not conn.execute(select(t.jobs.c.cancel_requested).where(t.jobs.c.id == job_id)).scalar()

    def record_progress(self, job_id: str, *, done: int, errors: list[dict[str, Any]]) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id)
                .values(done=done, errors=errors, heartbeat_at=_now())
            )

    def finish(self, job_id: str, status: str, last_error: str | None = None) -> None:
        assert status in TERMINAL
        with self._engine.begin() as conn:
            conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id)
                .values(status=status, finished_at=_now(), last_error=last_error)
            )

    def fail_attempt(self, job_id: str, error: str) -> str:
        """Requeue with exponential backoff, or fail for good after ``max_attempts``."""
        with self._engine.begin() as conn:
            row = conn.execute(
                select(t.jobs.c.attempts, t.jobs.c.max_attempts).where(t.jobs.c.id == job_id)
            ).first()
            if row is None:
                return "failed"
            if row.attempts >= row.max_attempts:
                conn.execute(
                    update(t.jobs)
                    .where(t.jobs.c.id == job_id)
                    .values(status="failed", finished_at=_now(), last_error=error)
                )
                return "failed"
            delay = timedelta(seconds=self._backoff_s * (2 ** (row.attempts - 1)))
            conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id)
                .values(status="queued", run_after=_now() + delay, last_error=error, worker_id=None)
            )
            return "queued"

    def reap_stalled(self, stalled_after_s: float) -> int:
        """Put running jobs whose worker stopped heartbeating back in the queue."""
        cutoff = _now() - timedelta(seconds=stalled_after_s)
        with self._engine.begin() as conn:
            result = conn.execute(
                update(t.jobs)
                .where(t.jobs.c.status == "running", t.jobs.c.heartbeat_at < cutoff)
                .values(
                    status="queued",
                    worker_id=None,
                    run_after=_now(),
                    last_error="worker stopped heartbeating",
                )
            )
            return result.rowcount or 0

    def cancel(self, job_id: str) -> Job:
        """Queued jobs are cancelled at once; running ones stop after the document in hand."""
        with self._engine.begin() as conn:
            row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
            if row is None:
                raise JobNotFound(f"job {job_id!r} not found")
            if row.status in TERMINAL:
                raise Conflict(f"job {job_id} already {row.status}")
            if row.status == "queued":
                conn.execute(
                    update(t.jobs)
                    .where(t.jobs.c.id == job_id)
                    .values(status="cancelled", cancel_requested=True, finished_at=_now())
                )
            else:
                conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(cancel_requested=True))
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with self._engine.connect() as conn:
            row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(f"job {job_id!r} not found")
        return _job(row)

    def list(
        self, *, namespace: str | None, status: str | None, limit: int, offset: int
    ) -> tuple[list[Job], int]:
        conditions = []
        if namespace:
            conditions.append(t.jobs.c.namespace == namespace)
        if status:
            conditions.append(t.jobs.c.status == status)
        where = and_(*conditions) if conditions else True
        with self._engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(t.jobs).where(where)).scalar_one())
            rows = conn.execute(
                select(t.jobs)
                .where(where)
                .order_by(t.jobs.c.created_at.desc(), t.jobs.c.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return [_job(r) for r in rows], total

    def pending_count(self) -> int:
        with self._engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(t.jobs).where(t.jobs.c.status.in_(("queued", "running")))
                ).scalar_one()
            )
