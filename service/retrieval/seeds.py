"""The reset (personalization) vector of the walk: where PPR restarts, and how strongly."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from service.retrieval.linking import LinkedFact
from service.retrieval.snapshot import Snapshot


def min_max(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.ones_like(values)


def entity_seeds(snapshot: Snapshot, facts: Sequence[LinkedFact]) -> dict[int, float]:
    """Seed weight per entity node: each linked fact gives its endpoints its normalized score
    divided by how many passages mention the entity (a hub name says less about which passage
    is meant); an entity reached by several facts gets the mean of those shares."""
    total: dict[int, float] = defaultdict(float)
    hits: dict[int, int] = defaultdict(int)
    for fact in facts:
        for node in (snapshot.fact_subject_nodes[fact.row], snapshot.fact_object_nodes[fact.row]):
            node = int(node)
            count = snapshot.entity_passage_counts[node]
            total[node] += fact.weight / count if count > 0 else fact.weight
            hits[node] += 1
    return {node: total[node] / hits[node] for node in total}


def reset_vector(
    snapshot: Snapshot,
    seeds: dict[int, float],
    dense_scores: np.ndarray,
    passage_node_weight: float,
) -> np.ndarray:
    """Entity seeds plus every passage node at its min-max-normalized dense score times
    ``passage_node_weight`` (so passages the query resembles start with some mass)."""
    reset = np.zeros(len(snapshot.node_ids), dtype=float)
    for node, weight in seeds.items():
        reset[node] += weight
    if passage_node_weight > 0 and dense_scores.size:
        reset[snapshot.passage_nodes] += min_max(dense_scores) * passage_node_weight
    return reset
