"""Queries first: a query never queues behind ingestion.

The service holds two embedder instances (two models in memory, each with its own lock): one
for queries, one for ingestion. They share a ``QueryLane``. A query runs at once and is counted
in the lane while it runs (the ``Query`` use case holds it for the whole ranking, its
embedding too). The ingestion embedder encodes in chunks (longest texts first, as one call
would) and, before each chunk, waits while any query is in progress; ``Ingest`` waits the same
way before each graph write. A query thus competes with at most the one step already running
and then has the cores to itself. The wait is bounded (``MAX_WAIT_S``): under a steady stream
of queries ingestion slows down but never stops.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from service.llm.embedder import Embedder

# Longest an ingestion step waits for queries before it goes ahead anyway.
MAX_WAIT_S = 1.0


class QueryLane:
    """Counts the queries in progress (``with lane.query(): ...``); ingestion waits for none
    between its steps (``wait_for_queries``)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queries = 0

    @contextmanager
    def query(self) -> Iterator[None]:
        with self._cond:
            self._queries += 1
        try:
            yield
        finally:
            with self._cond:
                self._queries -= 1
                if self._queries == 0:
                    self._cond.notify_all()

    def wait_for_queries(self, timeout_s: float = MAX_WAIT_S) -> None:
        """Returns once no query is in progress, or after ``timeout_s`` however busy queries
        keep the lane (so that a steady stream of queries slows ingestion but never stops it)."""
        with self._cond:
            self._cond.wait_for(lambda: self._queries == 0, timeout=timeout_s)

    @property
    def queries_in_progress(self) -> int:
        with self._cond:
            return self._queries


class QueryEmbedder:
    """The query side: marks its embedding as in progress so that ingestion steps aside."""

    def __init__(self, inner: Embedder, lane: QueryLane) -> None:
        self.inner, self.lane = inner, lane
        self.dim, self.name = inner.dim, inner.name

    def embed(self, texts: list[str]) -> np.ndarray:
        with self.lane.query():
            return self.inner.embed(texts)


class IngestEmbedder:
    """The ingestion side: chunks of ``chunk`` texts, each started only while no query embeds."""

    def __init__(self, inner: Embedder, lane: QueryLane, *, chunk: int = 32) -> None:
        self.inner, self.lane, self.chunk = inner, lane, max(1, chunk)
        self.dim, self.name = inner.dim, inner.name

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Longest first over the whole call, so chunks pad as little as one big call would.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.chunk):
            rows = order[start : start + self.chunk]
            self.lane.wait_for_queries()
            out[rows] = self.inner.embed([texts[i] for i in rows])
        return out
