"""Personalized PageRank (pure: no I/O).

Two implementations with the same semantics: ``personalized_pagerank`` calls igraph's prpack
solver on an ``igraph.Graph`` (the reference), and ``TransitionMatrix`` precomputes the sparse
column-stochastic matrix of a graph once and runs power iteration per query. The second is what
queries use: on an 18k-node graph it answers in a few milliseconds with a steady tail, where
prpack re-prepares the graph on every call. A unit test holds them to the same answer.
"""

from __future__ import annotations

import igraph as ig
import numpy as np
from scipy import sparse


def _check_reset(reset: np.ndarray, n: int) -> np.ndarray:
    reset = np.asarray(reset, dtype=float)
    if reset.shape != (n,):
        raise ValueError("reset vector must have one entry per vertex")
    if (reset < 0).any() or reset.sum() <= 0:
        raise ValueError("reset vector must be non-negative with a positive sum")
    return reset / reset.sum()


def personalized_pagerank(graph: ig.Graph, reset: np.ndarray, damping: float) -> np.ndarray:
    """Stationary distribution of a walk that restarts to ``reset`` (any non-negative vector,
    normalized here) with probability ``1 - damping``. Edge attribute ``weight`` is used when
    present. Returns one probability per vertex (sums to 1)."""
    if graph.vcount() == 0:
        return np.zeros(0)
    reset = _check_reset(reset, graph.vcount())
    weights = "weight" if "weight" in graph.es.attributes() else None
    scores = graph.personalized_pagerank(
        vertices=None,
        directed=False,
        damping=damping,
        reset=reset.tolist(),
        weights=weights,
        implementation="prpack",
    )
    return np.asarray(scores, dtype=float)


class TransitionMatrix:
    """The walk's transition matrix of an undirected weighted graph, built once per snapshot."""

    def __init__(self, n: int, edges: list[tuple[int, int, float]]) -> None:
        self.n = n
        if edges:
            rows = np.array([e[0] for e in edges] + [e[1] for e in edges], dtype=np.int64)
            cols = np.array([e[1] for e in edges] + [e[0] for e in edges], dtype=np.int64)
            vals = np.array([e[2] for e in edges] * 2, dtype=float)
        else:
            rows = cols = np.zeros(0, dtype=np.int64)
            vals = np.zeros(0)
        adjacency = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
        strength = np.asarray(adjacency.sum(axis=0)).ravel()
        self.dangling = strength == 0
        inverse = np.divide(1.0, strength, out=np.zeros_like(strength), where=strength > 0)
        # Column j spreads node j's mass over its neighbours in proportion to edge weight.
        self.matrix = (adjacency @ sparse.diags(inverse)).tocsr()

    def personalized_pagerank(
        self, reset: np.ndarray, damping: float, *, tol: float = 1e-10, max_iter: int = 1000
    ) -> np.ndarray:
        """Same contract as ``personalized_pagerank``; a vertex with no edges gives its mass
        back according to ``reset`` (as prpack does)."""
        if self.n == 0:
            return np.zeros(0)
        r = _check_reset(reset, self.n)
        p = r.copy()
        for _ in range(max_iter):
            spread = self.matrix @ p + p[self.dangling].sum() * r
            nxt = damping * spread + (1.0 - damping) * r
            if np.abs(nxt - p).sum() < tol:
                return nxt
            p = nxt
        return p
