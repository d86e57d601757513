"""Approximate nearest neighbours by inner product (cosine on unit vectors), for the walk at scale.

``VectorIndex`` wraps faiss's ``IndexPQFastScan``: every vector is stored as a 4-bit product
quantization code (``dim / 2`` sub-quantizers of 16 centroids: 96 bytes for 384 dimensions) and a
query scans all codes with SIMD lookup tables. The scan is exhaustive, so what it finds does not
depend on how the vectors are spread (graph indexes such as HNSW lose their way on unstructured
vectors); it returns candidates ranked by approximate score, which the caller re-scores exactly
against the float32 rows it holds. Measured on this project's 2-core machine (docs/benchmarks.md,
"The walk at scale"): 1M vectors of 384 dimensions scan and re-rank 1,000 candidates in ~3.5 ms
with 48-byte codes, about twice that with the 96-byte codes the walk uses, against ~190 ms for
the exact float32 scan; building (training the codebooks on a sample and encoding) takes
seconds; the best match by exact score was always among the candidates.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

_faiss_threads_set = False


def _faiss() -> Any:
    """faiss, configured once: one thread per search (a query is a short memory-bound scan; the
    service runs queries side by side and the embedder needs the cores)."""
    global _faiss_threads_set
    import faiss

    if not _faiss_threads_set:
        faiss.omp_set_num_threads(1)
        _faiss_threads_set = True
    return faiss


def subquantizers(dim: int, dims_each: int = 2) -> int:
    """About ``dims_each`` dimensions per sub-quantizer (fast scan wants an even count that
    divides the dimension). On 384-dimensional random vectors, 192 sub-quantizers (2 each) put
    99.8% of the exact top 30 among the best 1,000 candidates, 96 (4 each) only 84%
    (docs/benchmarks.md)."""
    for m in range(max(2, dim // dims_each), dim + 1):
        if dim % m == 0 and m % 2 == 0:
            return m
    raise ValueError(f"no even sub-quantizer count divides dimension {dim}")


class _ReadWriteLock:
    """Many searches at once, or one add."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class VectorIndex:
    """Approximate inner-product search over vectors identified by integer ids (the caller's
    rows). ``dims_each`` dimensions share a 4-bit code: 2 (96 bytes a vector at 384 dimensions)
    ranks well enough to re-score 1,000 candidates; 8 (24 bytes) scans 4x faster, enough to
    find the lowest scores (the min of a min-max). The codebooks are trained on the first
    ``add`` (a sample of at most ``train_size`` vectors), so the first batch should be
    representative; later adds only encode."""

    def __init__(self, dim: int, *, dims_each: int = 2, train_size: int = 65_536, seed: int = 0) -> None:
        self.dim = dim
        self._train_size = train_size
        self._seed = seed
        faiss = _faiss()
        m = subquantizers(dim, dims_each)
        self._index = faiss.IndexPQFastScan(dim, m, 4, faiss.METRIC_INNER_PRODUCT)
        self._ids = np.zeros(0, dtype=np.int64)
        self._lock = _ReadWriteLock()

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        """Codes, codebooks and the id map."""
        index = self._index
        codes = int(index.ntotal) * int(index.code_size)
        return codes + int(index.pq.centroids.size()) * 4 + self._ids.nbytes

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64).ravel()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise ValueError("one vector of the index's dimension per id")
        if not len(ids):
            return
        with self._lock.write():
            if not self._index.is_trained:
                sample = vectors
                if len(vectors) > self._train_size:
                    rng = np.random.default_rng(self._seed)
                    sample = vectors[np.sort(rng.choice(len(vectors), self._train_size, replace=False))]
                self._index.train(sample)
            self._index.add(vectors)
            self._ids = np.concatenate([self._ids, ids])

    def search(self, queries: np.ndarray, k: int) -> list[np.ndarray]:
        """Per query, the ids of (at most) ``k`` candidates, best approximate score first."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        with self._lock.read():
            total = int(self._index.ntotal)
            k = min(k, total)
            if k <= 0:
                return [np.zeros(0, dtype=np.int64) for _ in queries]
            _, labels = self._index.search(queries, k)
            ids = self._ids
        return [ids[row[row >= 0]] for row in labels]
