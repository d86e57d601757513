"""The reset (personalization) vector of the walk: where PPR restarts, and how strongly."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from service.retrieval.linking import LinkedFact, min_max
from service.retrieval.snapshot import Snapshot


def entity_seeds(snapshot: Snapshot, facts: Sequence[LinkedFact]) -> dict[int, float]:
    """Seed weight per entity node: each linked fact gives both its endpoints its normalized
    weight divided by how many passages mention the entity (a hub name says little about which
    passage is meant). Shares add up, so an entity two linked facts agree on weighs more."""
    seeds: dict[int, float] = defaultdict(float)
    for fact in facts:
        for node in (snapshot.fact_subject_nodes[fact.row], snapshot.fact_object_nodes[fact.row]):
            node = int(node)
            count = snapshot.entity_passage_counts[node]
            seeds[node] += fact.weight / count if count > 0 else fact.weight
    return dict(seeds)


def reset_vector(
    snapshot: Snapshot,
    seeds: dict[int, float],
    dense_scores: np.ndarray,
    passage_node_weight: float,
    passage_seed_power: float,
) -> np.ndarray:
    """Entity seeds, plus every passage node at ``passage_node_weight`` times its min-max
    dense score raised to ``passage_seed_power`` (the power keeps the dense prior on the few
    passages that really resemble the query instead of smearing it over the corpus)."""
    reset = np.zeros(len(snapshot.node_ids), dtype=float)
    for node, weight in seeds.items():
        reset[node] += weight
    if passage_node_weight > 0 and dense_scores.size:
        reset[snapshot.passage_nodes] += passage_node_weight * min_max(dense_scores) ** passage_seed_power
    return reset
