"""``Query``: the one use case that ranks passages for a question, and optionally answers it.

Called by the API, the CLI, the evaluation harness and the benchmarks. ``graph`` mode is
HippoRAG 2's walk (fact linking -> entity and passage seeds -> PPR); ``dense`` ranks by
embedding similarity alone; ``bm25`` lexically; a graph query with no linkable fact falls back
to dense and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from service.domain.models import RankedPassage
from service.domain.records import QueryMode
from service.errors import InvalidInput, LLMNotConfigured
from service.llm.embedder import Embedder
from service.llm.lane import QueryLane
from service.observability.metrics import observe_query
from service.retrieval.approximate import (
    ApproximateParams,
    walk_index,
)
from service.retrieval.approximate_walk import (
    DenseView,
    approximate_dense,
    approximate_ppr,
    link_facts_approximate,
    passage_seeds,
    rank_passages,
)
from service.retrieval.fact_filter import FactFilter
from service.retrieval.lexical import LexicalIndexCache
from service.retrieval.linking import LinkingParams, link_facts
from service.retrieval.seeds import entity_seeds, reset_vector
from service.retrieval.snapshot import Snapshot, SnapshotCache
from service.settings import RetrievalSettings
from service.stores.base import GraphStore
from service.stores.sql.documents import DocumentStore

# The reader: question and ranked passages in, the LLM's answer out (pipeline.answer.Reader).
Reader = Callable[[str, list[RankedPassage]], str]


@dataclass(frozen=True)
class RetrievalParams:
    """Graph-mode parameters; ``from_settings`` is the only place they are filled from."""

    linking: LinkingParams
    passage_node_weight: float
    passage_seed_power: float
    damping: float
    ppr_tolerance: float  # power iteration stops when an iteration moves less (L1)
    approximate: ApproximateParams  # when and how large namespaces are walked approximately

    @classmethod
    def from_settings(cls, r: RetrievalSettings) -> RetrievalParams:
        return cls(
            linking=LinkingParams.from_settings(r),
            passage_node_weight=r.passage_node_weight,
            passage_seed_power=r.passage_seed_power,
            damping=r.damping,
            ppr_tolerance=r.ppr_tolerance,
            approximate=ApproximateParams.from_settings(r),
        )


@dataclass(frozen=True)
class SeedFact:
    fact_id: str
    text: str
    score: float


@dataclass(frozen=True)
class SeedEntity:
    entity_id: str
    name: str
    weight: float


@dataclass
class QueryResult:
    mode: QueryMode
    passages: list[RankedPassage]
    facts: list[SeedFact] = field(default_factory=list)
    entities: list[SeedEntity] = field(default_factory=list)
    fallback: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    answer: str | None = None  # the reader's answer, when one was asked for


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round((now - self._t) * 1000, 3)
        self._t = now


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the k best scores, best first; ties by index so results are deterministic."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order[:k]


# Dense scores of every passage (the exact walk), or of the best ones (above approximate_above).
Dense = np.ndarray | DenseView


def _dense_scores(snapshot: Snapshot, q: np.ndarray, top_k: int, params: RetrievalParams) -> Dense:
    approx = params.approximate
    if approx.applies(snapshot):
        k = max(top_k, approx.passage_candidates)
        return approximate_dense(snapshot, walk_index(snapshot), q, k)
    return snapshot.passage_matrix @ q


def _dense_top(dense: Dense, k: int) -> list[tuple[int, float]]:
    if isinstance(dense, DenseView):
        return dense.top(k)
    return [(int(r), float(dense[r])) for r in _top(dense, k)]


@dataclass(frozen=True)
class Query:
    """The query use case: checks the namespace and ``top_k``, ranks, and answers with the reader
    when asked. Raises ``NamespaceNotFound``, ``InvalidInput``, ``LLMNotConfigured`` (an answer
    without a reader) and ``LLMError`` (the reader failed)."""

    namespaces: DocumentStore
    store: GraphStore
    snapshots: SnapshotCache
    lexical: LexicalIndexCache
    embedder: Embedder
    params: RetrievalParams
    default_mode: QueryMode
    max_top_k: int
    fact_filter: FactFilter | None = None
    reader: Reader | None = None
    lane: QueryLane | None = None  # marks the ranking in progress: ingestion steps aside


    def __call__(
        self, namespace: str, text: str, *, top_k: int, mode: QueryMode | None = None, answer: bool = False
    ) -> QueryResult:
        self.namespaces.get_namespace(namespace)
        if not 1 <= top_k <= self.max_top_k:
            raise InvalidInput(f"top_k must be between 1 and {self.max_top_k}")
        if answer and self.reader is None:
            raise LLMNotConfigured.for_request()
        result = self.rank(namespace, text, top_k=top_k, mode=QueryMode(mode or self.default_mode))
        if answer and self.reader is not None:
            started = time.perf_counter()
            result.answer = self.reader(text, result.passages)
            spent = round((time.perf_counter() - started) * 1000, 3)
            result.timings_ms["answer"] = spent
            result.timings_ms["total"] = round(result.timings_ms.get("total", 0.0) + spent, 3)
        observe_query(result.mode.value, result.timings_ms)
        return result

    def rank(self, namespace: str, text: str, *, top_k: int, mode: QueryMode) -> QueryResult:
        """The ranking alone (no checks, no reader)."""
        with self.lane.query() if self.lane is not None else nullcontext():
            return self._rank(namespace, text, top_k=top_k, mode=mode)

    def _rank(self, namespace: str, text: str, *, top_k: int, mode: QueryMode) -> QueryResult:
        store = self.store
        timer = _Timer()
        snapshot = self.snapshots.get(namespace)
        timer.lap("snapshot")
        if mode == QueryMode.BM25:  # lexical ranking: no query embedding, so its latency is BM25's own
            ranked = [] if snapshot.empty else self.lexical.get(snapshot).rank(text, top_k)
            timer.lap("bm25")
            result = QueryResult(mode=mode, passages=_materialize(store, snapshot, namespace, ranked))
            timer.lap("fetch")
            result.timings_ms = {**timer.timings, "total": round(sum(timer.timings.values()), 3)}
            return result
        q = self.embedder.embed([text])[0]
        timer.lap("embed")
        if snapshot.empty:
            return QueryResult(mode=mode, passages=[], timings_ms=timer.timings)
        dense = _dense_scores(snapshot, q, top_k, self.params)
        timer.lap("dense")

        result = QueryResult(mode=mode, passages=[])
        if mode == QueryMode.DENSE:
            ranked = _dense_top(dense, top_k)
        else:
            ranked = _graph_rank(
                snapshot, text, q, dense, top_k, self.params, result, timer, self.fact_filter
            )
        result.passages = _materialize(store, snapshot, namespace, ranked)
        timer.lap("fetch")
        result.timings_ms = timer.timings
        result.timings_ms["total"] = round(sum(timer.timings.values()), 3)
        return result


def _graph_rank(
    snapshot: Snapshot,
    question: str,
    q: np.ndarray,
    dense: Dense,
    top_k: int,
    params: RetrievalParams,
    result: QueryResult,
    timer: _Timer,
    fact_filter: FactFilter | None = None,
) -> list[tuple[int, float]]:
    if isinstance(dense, DenseView):
        index = walk_index(snapshot)
        approx = params.approximate
        linked = link_facts_approximate(snapshot, index, q, dense, question, params.linking, approx)
    else:
        linked = link_facts(snapshot, q, dense, question, params.linking)
    timer.lap("link")
    if fact_filter is not None and linked:
        kept = fact_filter(question, [snapshot.fact_texts[f.row] for f in linked])
        timer.lap("filter")
        if kept is None:
            result.fallback = "the LLM fact filter failed; unfiltered facts were used"
        elif not kept:
            result.fallback = "the LLM fact filter kept no fact; ranked by dense similarity"
            return _dense_top(dense, top_k)
        else:
            linked = [linked[i] for i in kept]
    seeds = entity_seeds(snapshot, linked)
    if not seeds:
        result.fallback = "no fact could be linked to the query; ranked by dense similarity"
        return _dense_top(dense, top_k)
    result.facts = [
        SeedFact(snapshot.fact_ids[f.row], snapshot.fact_texts[f.row], round(f.score, 6)) for f in linked
    ]
    result.entities = [
        SeedEntity(snapshot.node_ids[node], snapshot.entity_names.get(node, ""), round(weight, 6))
        for node, weight in sorted(seeds.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if isinstance(dense, DenseView):  # seed-local: the candidate passages seeded, forward push
        passages = passage_seeds(snapshot, dense, params.passage_node_weight, params.passage_seed_power)
        timer.lap("seeds")
        walk = approximate_ppr(snapshot, seeds, passages, params.damping, params.approximate.push_epsilon)
        timer.lap("ppr")
        return rank_passages(snapshot, index, q, dense, walk, top_k)
    reset = reset_vector(snapshot, seeds, dense, params.passage_node_weight, params.passage_seed_power)
    timer.lap("seeds")
    ppr = snapshot.transitions.personalized_pagerank(reset, params.damping, tol=params.ppr_tolerance)
    timer.lap("ppr")
    passage_scores = ppr[snapshot.passage_nodes]
    # Equal walk mass (common in tiny graphs) is broken by dense similarity, then by row.
    order = np.lexsort((np.arange(len(passage_scores)), -dense, -passage_scores))[:top_k]
    return [(int(r), float(passage_scores[r])) for r in order]


def _materialize(
    store: GraphStore, snapshot: Snapshot, namespace: str, ranked: list[tuple[int, float]]
) -> list[RankedPassage]:
    wanted = [snapshot.passage_ids[r] for r, _ in ranked]
    stored = store.get_passages(namespace, wanted)
    out: list[RankedPassage] = []
    for (row, score), pid in zip(ranked, wanted, strict=True):
        p = stored.get(pid)
        if p is None:  # deleted since the snapshot was built
            continue
        out.append(RankedPassage(pid, p.document_id, p.title, p.text, score))
        del row
    return out
