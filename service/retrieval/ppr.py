"""Personalized PageRank over an igraph graph (pure: no I/O)."""

from __future__ import annotations

import igraph as ig
import numpy as np


def personalized_pagerank(graph: ig.Graph, reset: np.ndarray, damping: float) -> np.ndarray:
    """Stationary distribution of a walk that restarts to ``reset`` (any non-negative vector,
    normalized here) with probability ``1 - damping``. Edge attribute ``weight`` is used when
    present. Returns one probability per vertex (sums to 1)."""
    if graph.vcount() == 0:
        return np.zeros(0)
    reset = np.asarray(reset, dtype=float)
    if reset.shape != (graph.vcount(),):
        raise ValueError("reset vector must have one entry per vertex")
    if (reset < 0).any() or reset.sum() <= 0:
        raise ValueError("reset vector must be non-negative with a positive sum")
    weights = "weight" if "weight" in graph.es.attributes() else None
    scores = graph.personalized_pagerank(
        vertices=None,
        directed=False,
        damping=damping,
        reset=(reset / reset.sum()).tolist(),
        weights=weights,
        implementation="prpack",
    )
    return np.asarray(scores, dtype=float)
