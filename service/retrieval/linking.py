"""Linking a query to the graph: the facts (and through them the entities) it is about.

Query-fact cosine alone, with a small embedder, often picks a fact about the right kind of
thing but the wrong entity (snowfall in another city). Two signals that need no LLM fix much of
that: how similar the fact's own passage is to the query, and whether the fact names an entity
that the question names. See docs/retrieval.md for the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.retrieval.snapshot import Snapshot, name_key
from service.settings import RetrievalSettings


@dataclass(frozen=True)
class LinkingParams:
    """How a query is linked to facts; ``from_settings`` is the only place they are filled from."""

    top_k: int
    passage_bonus: float  # beta: weight of the best dense score among the fact's passages
    question_entity_bonus: float  # gamma: added when the fact names a question entity

    @classmethod
    def from_settings(cls, r: RetrievalSettings) -> LinkingParams:
        return cls(
            top_k=r.linking_top_k,
            passage_bonus=r.passage_bonus,
            question_entity_bonus=r.question_entity_bonus,
        )


@dataclass(frozen=True)
class LinkedFact:
    row: int  # row in snapshot.fact_matrix
    score: float  # combined raw score (cosine + bonuses)
    weight: float  # score min-max normalized over all facts; what seeds are made of


def min_max(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.ones_like(values)


def question_entities(snapshot: Snapshot, question: str) -> set[int]:
    """Entity nodes whose whole name occurs in the question as a run of words."""
    tokens = name_key(question)
    found: set[int] = set()
    longest = min(snapshot.max_name_tokens, len(tokens))
    for size in range(1, longest + 1):
        for start in range(len(tokens) - size + 1):
            found.update(snapshot.name_index.get(tokens[start : start + size], ()))
    return found


def link_facts(
    snapshot: Snapshot, query: np.ndarray, dense: np.ndarray, question: str, params: LinkingParams
) -> list[LinkedFact]:
    """The ``top_k`` facts for the query, best first; exact ties by ``Snapshot.fact_tie_rank``."""
    if not snapshot.fact_ids or params.top_k <= 0:
        return []
    scores = snapshot.fact_cosines(query)
    if params.passage_bonus:
        scores = scores + params.passage_bonus * snapshot.fact_source_max(dense)
    if params.question_entity_bonus:
        named = question_entities(snapshot, question)
        if named:
            is_named = np.zeros(len(snapshot.node_ids), dtype=bool)
            is_named[list(named)] = True
            hit = is_named[snapshot.fact_subject_nodes] | is_named[snapshot.fact_object_nodes]
            scores = scores + params.question_entity_bonus * hit
    weights = min_max(scores)
    order = top_rows(scores, snapshot.fact_tie_rank, params.top_k)
    return [LinkedFact(int(r), float(scores[r]), float(weights[r])) for r in order]


def top_rows(scores: np.ndarray, tie_rank: np.ndarray, k: int) -> np.ndarray:
    """The rows of the ``k`` best scores, best first, exact ties by ``tie_rank``: the first
    ``k`` of a full sort by (-score, tie_rank), at the cost of a partition (a query ranks tens
    of thousands of facts to keep three)."""
    if k >= len(scores):
        return np.lexsort((tie_rank, -scores))
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]  # the k-th best score
    rows = np.flatnonzero(scores >= kth)  # every row that can be in the top k, ties included
    return rows[np.lexsort((tie_rank[rows], -scores[rows]))][:k]
