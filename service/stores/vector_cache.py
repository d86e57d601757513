"""An in-memory matrix of one namespace's vectors of one kind, kept in step with graph_version.

Exact cosine search with numpy: at the scale of one namespace's entities (10^4-10^5 rows of 384
float32) a matrix product is faster than any index round trip. A writer that knows the version
it moved from can append its rows instead of forcing a full reload; anyone else reloads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from service.domain.models import GraphWriteBatch

Loader = Callable[[], tuple[list[str], np.ndarray]]


class _Entry:
    __slots__ = ("ids", "matrix", "version")

    def __init__(self, version: int, ids: list[str], matrix: np.ndarray) -> None:
        self.version = version
        self.ids = ids
        self.matrix = matrix


class VectorCache:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def get(self, namespace: str, kind: str, version: int, load: Loader) -> tuple[list[str], np.ndarray]:
        key = (namespace, kind)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                return entry.ids, entry.matrix
        ids, matrix = load()
        with self._lock:
            self._entries[key] = _Entry(version, ids, matrix)
        return ids, matrix

    def append(
        self, namespace: str, kind: str, from_version: int, to_version: int, ids: list[str], rows: np.ndarray
    ) -> None:
        """Record rows written while moving ``from_version -> to_version``; drops the entry when
        it was not at ``from_version`` (someone else wrote in between: reload next time)."""
        key = (namespace, kind)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            if entry.version != from_version:
                del self._entries[key]
                return
            known = set(entry.ids)
            fresh: list[int] = []
            for i, id_ in enumerate(ids):
                if id_ not in known:  # also skips an id repeated within this batch
                    known.add(id_)
                    fresh.append(i)
            if fresh:
                entry.ids = entry.ids + [ids[i] for i in fresh]
                entry.matrix = np.vstack([entry.matrix, rows[fresh]]) if entry.matrix.size else rows[fresh]
            entry.version = to_version

    def follow_write(self, batch: GraphWriteBatch, from_version: int, to_version: int) -> None:
        """Record every vector a store just wrote for ``batch`` (the first row of an id wins, as
        both stores keep the first writer's vector)."""
        for kind, items in (("passage", batch.passages), ("entity", batch.entities), ("fact", batch.facts)):
            rows = (
                np.vstack([np.asarray(i.embedding, dtype=np.float32) for i in items])
                if items
                else np.zeros((0, 0), np.float32)
            )
            self.append(batch.namespace, kind, from_version, to_version, [i.id for i in items], rows)

    def invalidate(self, namespace: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == namespace]:
                del self._entries[key]


def top_k_search(
    ids: list[str], matrix: np.ndarray, queries: np.ndarray, top_k: int, min_score: float
) -> list[list[tuple[str, float]]]:
    """Exact cosine top-k of each query row against ``matrix`` (rows normalized)."""
    if not ids or top_k <= 0:
        return [[] for _ in range(len(queries))]
    scores = queries.astype(np.float32) @ matrix.T
    k = min(top_k, len(ids))
    out: list[list[tuple[str, float]]] = []
    for row in scores:
        idx = np.argpartition(-row, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
        idx = idx[np.lexsort((idx, -row[idx]))]
        out.append([(ids[i], float(row[i])) for i in idx if row[i] >= min_score])
    return out
