"""Linking a query to the graph: the facts (and through them the entities) it is about."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.retrieval.snapshot import Snapshot


@dataclass(frozen=True)
class LinkedFact:
    row: int  # row in snapshot.fact_matrix
    score: float  # cosine similarity to the query
    weight: float  # score min-max normalized over all facts (as HippoRAG 2 seeds with)


def link_facts(snapshot: Snapshot, query: np.ndarray, top_k: int) -> list[LinkedFact]:
    """The ``top_k`` facts closest to the query, best first (ties broken by row for determinism)."""
    if not snapshot.fact_ids or top_k <= 0:
        return []
    scores = snapshot.fact_matrix @ query
    lo, hi = float(scores.min()), float(scores.max())
    span = hi - lo
    k = min(top_k, len(scores))
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    return [
        LinkedFact(int(r), float(scores[r]), (float(scores[r]) - lo) / span if span > 0 else 1.0)
        for r in order
    ]
