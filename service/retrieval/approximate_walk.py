"""The approximate walk at query time: dense passage scores, fact linking, seeds and PPR over a
snapshot's ``WalkIndex`` (``retrieval/approximate.py`` builds and keeps the index and its
parameters)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.retrieval.approximate import (
    _LOW_PASSAGES,
    ApproximateParams,
    WalkIndex,
    _fact_vectors,
    _ragged,
)
from service.retrieval.linking import LinkedFact, LinkingParams, question_entities
from service.retrieval.push import PushResult, forward_push
from service.retrieval.snapshot import Snapshot


@dataclass(frozen=True)
class DenseView:
    """The dense scores a query needs at scale: the best passages, exactly scored, best first
    (ties by row), and the lowest score of any passage."""

    rows: np.ndarray
    scores: np.ndarray
    low: float

    @property
    def high(self) -> float:
        return float(self.scores[0]) if self.scores.size else 0.0

    def top(self, k: int) -> list[tuple[int, float]]:
        return [(int(r), float(s)) for r, s in zip(self.rows[:k], self.scores[:k], strict=True)]


def _dot(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``rows @ query`` as float64, on this thread: the walk's products are small, and a BLAS
    spreading each over its threads costs more than it saves, far more on busy cores (measured:
    fact linking 71 -> 21 ms at 50k passages with two OpenBLAS threads on a loaded 2-core box)."""
    if not len(rows):
        return np.zeros(0)
    return np.einsum("ij,j->i", rows, query.astype(rows.dtype, copy=False)).astype(float)


def _exact_top(rows: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((rows, -scores))
    return rows[order], scores[order]


def approximate_dense(snapshot: Snapshot, index: WalkIndex, query: np.ndarray, k: int) -> DenseView:
    """The ``k`` best passages by dense score (from the index, re-scored exactly)."""
    limit = len(snapshot.passage_ids)
    found = index.passages.search(query, k)[0]
    anti = index.passages_low.search(-query, _LOW_PASSAGES)[0]
    rows = np.unique(found[found < limit])
    scores = _dot(snapshot.passage_matrix[rows], query)
    rows, scores = _exact_top(rows, np.asarray(scores, dtype=float))
    anti = np.unique(anti[anti < limit])
    low_scores = _dot(snapshot.passage_matrix[anti], query) if anti.size else scores
    low = float(min(np.min(low_scores), np.min(scores))) if scores.size else 0.0
    return DenseView(rows[:k], scores[:k], low)


def _dense_of(snapshot: Snapshot, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact dense scores of the given passage rows."""
    return _dot(snapshot.passage_matrix[rows], query)


def link_facts_approximate(
    snapshot: Snapshot,
    index: WalkIndex,
    query: np.ndarray,
    dense: DenseView,
    question: str,
    params: LinkingParams,
    approx: ApproximateParams,
) -> list[LinkedFact]:
    """``linking.link_facts`` over candidate facts (see the module docstring)."""
    if not snapshot.fact_ids or params.top_k <= 0:
        return []
    limit = len(snapshot.fact_ids)
    found = index.facts.search(query, approx.fact_candidates)[0]
    named = np.zeros(0, dtype=np.int64)
    if params.question_entity_bonus:
        named = np.fromiter(question_entities(snapshot, question), dtype=np.int64)
    pools = [index.facts_of_groups(found), index.facts_of_passages(dense.rows[: approx.link_passages])]
    if named.size:
        pools.append(index.facts_of_entities(snapshot, named))
    candidates = np.unique(np.concatenate(pools))
    candidates = candidates[candidates < limit]
    if not candidates.size:
        return []
    rows = candidates

    # Cosines once per distinct vector; the passage bonus from each fact's best source passage.
    _, first, inverse = np.unique(index.group_of(rows), return_index=True, return_inverse=True)
    scores = _dot(_fact_vectors(snapshot, rows[first]), query)[inverse]
    if params.passage_bonus:
        starts, ends = snapshot.fact_source_start[rows], snapshot.fact_source_start[rows + 1]
        sources = _ragged(snapshot.fact_source_rows, starts, ends)
        unique, where = np.unique(sources, return_inverse=True)
        source_dense = _dense_of(snapshot, query, unique)[where]
        offsets = np.zeros(len(rows), dtype=np.int64)
        np.cumsum((ends - starts)[:-1], out=offsets[1:])
        scores = scores + params.passage_bonus * np.maximum.reduceat(source_dense, offsets)
    if named.size:
        subjects, objects = snapshot.fact_subject_nodes[rows], snapshot.fact_object_nodes[rows]
        hit = np.isin(subjects, named) | np.isin(objects, named)
        scores = scores + params.question_entity_bonus * hit
    lo, hi = float(scores.min()), float(scores.max())
    if len(rows) < limit and len(index.fact_sample):
        # The lowest score of all facts, estimated: the sample's lowest cosine plus the passage
        # bonus at the lowest dense score.
        floor = float(np.min(_dot(index.fact_sample, query))) + params.passage_bonus * min(dense.low, 0.0)
        lo = min(lo, floor)

    head = scores
    k = min(params.top_k, len(candidates))
    cut = np.partition(head, len(head) - k)[len(head) - k]
    contenders = np.flatnonzero(head >= cut)
    texts = snapshot.fact_texts
    ordered = sorted(
        contenders.tolist(),
        key=lambda i: (-head[i], len(texts[candidates[i]]), texts[candidates[i]]),
    )[:k]
    span = hi - lo
    return [
        LinkedFact(int(candidates[i]), float(head[i]), float((head[i] - lo) / span) if span > 0 else 1.0)
        for i in ordered
    ]


def passage_seeds(
    snapshot: Snapshot, dense: DenseView, passage_node_weight: float, passage_seed_power: float
) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, weights) of the candidate passages' seeds: ``reset_vector``'s passage term."""
    if passage_node_weight <= 0 or not dense.rows.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    span = dense.high - dense.low
    scaled = (dense.scores - dense.low) / span if span > 0 else np.ones_like(dense.scores)
    return snapshot.passage_nodes[dense.rows], passage_node_weight * scaled**passage_seed_power


def approximate_ppr(
    snapshot: Snapshot,
    seeds: dict[int, float],
    passages: tuple[np.ndarray, np.ndarray],
    damping: float,
    epsilon: float,
) -> PushResult:
    nodes = np.concatenate([np.fromiter(seeds.keys(), dtype=np.int64, count=len(seeds)), passages[0]])
    weights = np.concatenate([np.fromiter(seeds.values(), dtype=float, count=len(seeds)), passages[1]])
    return forward_push(snapshot.transitions, nodes, weights, damping, epsilon=epsilon)


def rank_passages(
    snapshot: Snapshot,
    index: WalkIndex,
    query: np.ndarray,
    dense: DenseView,
    walk: PushResult,
    top_k: int,
) -> list[tuple[int, float]]:
    """The ``top_k`` passages by walk mass, ties by dense score then row (as the exact walk
    ranks); passages the walk did not reach follow in dense order."""
    rows = index.passage_rows_of(walk.nodes)
    inside = (rows >= 0) & (rows < len(snapshot.passage_ids))
    rows, mass = rows[inside], walk.mass[inside]
    ranked: list[tuple[int, float]] = []
    if rows.size:
        k = min(top_k, rows.size)
        cut = np.partition(mass, rows.size - k)[rows.size - k]
        pick = np.flatnonzero(mass >= cut)
        picked_dense = _dense_of(snapshot, query, rows[pick])
        order = np.lexsort((rows[pick], -picked_dense, -mass[pick]))[:top_k]
        ranked = [(int(rows[pick[i]]), float(mass[pick[i]])) for i in order]
    if len(ranked) < top_k:
        seen = {r for r, _ in ranked}
        ranked.extend((r, 0.0) for r, _ in dense.top(len(dense.rows)) if r not in seen)
        ranked = ranked[:top_k]
    return ranked
