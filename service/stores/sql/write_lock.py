"""One graph writer per namespace at a time, across every process of a deployment.

Why: a group's synonym edges are found by searching the entities already stored, then written
with the group. Two workers writing groups of the same namespace at once each search a store
without the other's new entities, so an edge between two entities new in both groups is never
made, and the graph depends on how the documents were spread over workers (measured: 1,000 2Wiki
documents, 1,743 synonym edges with one worker, 1,719 with three). Holding this lock from the
search through the write makes concurrent groups behave as if written one after the other, which
gives the same graph in any order (tests/contract/test_ingest_order.py,
tests/integration/test_compose_processes.py). Extraction and embedding stay parallel.

The relational store is what every process of a deployment shares, so it coordinates:

- PostgreSQL: a transaction-scoped advisory lock (``pg_advisory_xact_lock``) on a 64-bit key
  derived from the namespace, held on a connection of its own for the duration. The wait is
  bounded (``wait_s``, PostgreSQL's ``lock_timeout``): a holder that hangs makes the others'
  group attempts fail and be retried, not block forever; and the server's
  ``idle_in_transaction_session_timeout`` is off for that transaction, so a long graph write
  cannot lose the lock under it;
- SQLite (one host by nature): an exclusive ``flock`` on a file beside the database, plus a
  thread lock, since ``flock`` does not exclude threads of one process from each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text


def lock_key(namespace: str) -> int:
    """A signed 64-bit advisory-lock key for the namespace's graph writes."""
    digest = hashlib.sha256(b"hippograph graph write\x1f" + namespace.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class NamespaceWriteLock:
    def __init__(self, engine: Engine, *, wait_s: float = 120.0) -> None:
        self._engine = engine
        self._wait_ms = max(1, int(wait_s * 1000))
        self._threads: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._dir: Path | None = None
        if engine.dialect.name == "sqlite":
            database = engine.url.database
            base = Path(database).resolve().parent if database and database != ":memory:" else Path(".")
            self._dir = base / "locks"

    def _thread_lock(self, namespace: str) -> threading.Lock:
        with self._guard:
            return self._threads.setdefault(namespace, threading.Lock())

    @contextmanager
    def __call__(self, namespace: str) -> Iterator[None]:
        """Hold the namespace's graph-write lock for the block (blocks until it is free)."""
        with self._thread_lock(namespace):
            if self._dir is None:
                with self._engine.connect() as conn, conn.begin():
                    # SET takes no bound parameter; the value is an int of ours, not input.
                    conn.execute(text(f"SET LOCAL lock_timeout = {self._wait_ms}"))
                    conn.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(namespace)})
                    yield
                return
            self._dir.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha256(namespace.encode("utf-8")).hexdigest()[:24]
            with open(self._dir / f"graph-write-{name}.lock", "a+b") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
