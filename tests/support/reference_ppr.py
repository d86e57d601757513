"""igraph's prpack Personalized PageRank: the reference the service's walk is checked against
(HippoRAG 2 calls exactly this)."""

from __future__ import annotations

import igraph as ig
import numpy as np


def prpack_ppr(
    n: int, edges: list[tuple[int, int]], weights: list[float] | None, reset: np.ndarray, damping: float
) -> np.ndarray:
    graph = ig.Graph(n=n, edges=edges, directed=False)
    if weights is not None:
        graph.es["weight"] = weights
    scores = graph.personalized_pagerank(
        vertices=None,
        directed=False,
        damping=damping,
        reset=(np.asarray(reset, dtype=float) / np.sum(reset)).tolist(),
        weights="weight" if weights is not None else None,
        implementation="prpack",
    )
    return np.asarray(scores, dtype=float)
