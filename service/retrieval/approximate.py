"""The walk at scale: graph and dense queries without scanning every vector or iterating over
the whole graph, for namespaces above ``RetrievalSettings.approximate_above`` passages.

The exact walk (``linking.link_facts``, ``seeds.reset_vector``, ``TransitionMatrix``) costs time in
proportion to the namespace: two dense scans (every passage, every fact) and power iteration
over every node. Here each step reads only what can matter:

- **Dense scores**: the best ``passage_candidates`` passages from a quantized index
  (``ann.VectorIndex``), re-scored exactly; the lowest dense score (the min of the min-max) is the
  best match of the negated query, found in the same scan.
- **Fact linking**: the same score as ``link_facts`` (cosine + passage bonus + question-entity
  bonus), computed exactly, but only for candidates: facts whose vector the index returns for
  the query, facts stated by the best ``link_passages`` passages (the passage bonus can lift
  them), and every fact naming a question entity (the entity bonus can). The min of the min-max
  is taken over these and over the facts closest to the negated query.
- **Passage seeds**: only the candidate passages are seeded (``passage_node_weight *
  minmax(dense) ** passage_seed_power``); the rest of the corpus, whose seeds are tiny one by one
  but add up at scale, is left out (docs/retrieval.md measures what that changes).
- **PPR**: forward push from the seeds (``push.forward_push``), same walk semantics.

``WalkIndex`` holds the vector indexes and the inverse maps that candidate generation needs. It
is built for a snapshot and follows the snapshot's growth (``catch_up``: rows appended by
``snapshot_delta.extend_snapshot`` are encoded and added; a rebuilt snapshot gets a new index).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from service.retrieval.ann import VectorIndex
from service.retrieval.linking import LinkedFact, LinkingParams, question_entities
from service.retrieval.push import PushResult, forward_push
from service.retrieval.snapshot import Snapshot
from service.settings import RetrievalSettings


@dataclass(frozen=True)
class ApproximateParams:
    """When and how the walk goes approximate; ``from_settings`` is the only place they are filled from."""

    above: int | None  # passages; a namespace with at most this many is walked exactly (None: always)
    passage_candidates: int  # passages read from the index per query, re-scored exactly and seeded
    fact_candidates: int  # distinct fact vectors read from the index per query
    link_passages: int  # the facts of this many best passages are linking candidates too
    push_epsilon: float  # forward push residual bound, per unit of vertex strength

    @classmethod
    def from_settings(cls, r: RetrievalSettings) -> ApproximateParams:
        return cls(
            above=r.approximate_above,
            passage_candidates=r.approximate_passage_candidates,
            fact_candidates=r.approximate_fact_candidates,
            link_passages=r.approximate_link_passages,
            push_epsilon=r.push_epsilon,
        )

    def applies(self, snapshot: Snapshot) -> bool:
        return self.above is not None and len(snapshot.passage_ids) > self.above


# --- inverse maps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grouping:
    """Items grouped by an integer key: ``items[start[k]:start[k + 1]]`` are key ``k``'s."""

    start: np.ndarray
    items: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray, items: np.ndarray, size: int) -> _Grouping:
        order = np.argsort(keys, kind="stable")
        start = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=size)[:size], out=start[1:])
        return cls(start, items[order].astype(np.int32 if len(items) < 2**31 else np.int64))

    def members(self, keys: np.ndarray) -> np.ndarray:
        keys = keys[(keys >= 0) & (keys < len(self.start) - 1)]
        if not keys.size:
            return np.zeros(0, dtype=np.int64)
        return _ragged(self.items, self.start[keys], self.start[keys + 1]).astype(np.int64)


def _ragged(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``values[starts[i]:ends[i]]`` for every i, concatenated."""
    counts = ends - starts
    total = int(counts.sum())
    if not total:
        return values[:0]
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
    return values[offsets]


def _row_hashes(matrix: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's float32 bits: rows holding the same vector hash alike."""
    multipliers = np.random.default_rng(0x5EED).integers(1, 2**63, size=matrix.shape[1], dtype=np.uint64)
    multipliers |= np.uint64(1)
    out = np.empty(len(matrix), dtype=np.uint64)
    for s in range(0, len(matrix), 32_768):
        block = np.ascontiguousarray(matrix[s : s + 32_768], dtype=np.float32).view(np.uint32)
        out[s : s + len(block)] = (block.astype(np.uint64) * multipliers).sum(axis=1, dtype=np.uint64)
    return out


def _fact_vectors(snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
    mapping = snapshot.fact_vector_rows
    return snapshot.fact_matrix[rows if mapping is None else mapping[rows]]


class WalkIndex:
    """What the approximate walk needs beyond the snapshot: a vector index over passages and
    one over the distinct fact vectors (facts read from one sentence share its vector), and maps
    from a fact vector, a passage and an entity to their facts. Facts appended after the maps
    were built are found by scanning that tail; the maps are rebuilt once it grows large."""

    def __init__(self, dim: int, *, fact_dims_each: int = 2) -> None:
        self.dim = dim
        self.passages = VectorIndex(dim)
        self.facts = VectorIndex(dim, dims_each=fact_dims_each)
        # Coarser codes, scanned with the negated query: the lowest dense score, which matters
        # (the passage seeds raise min-max scores to the 8th power); 4 dimensions a code and
        # 1,000 candidates find it within 0.003 on random vectors.
        self.passages_low = VectorIndex(dim, dims_each=4)
        # The facts' lowest score hardly matters (it only scales the few linked facts' weights):
        # estimated from a fixed sample of fact vectors, scanned exactly.
        self.fact_sample = np.zeros((0, dim), dtype=np.float32)
        self._lock = threading.Lock()
        self.passage_rows = 0  # passage rows [0, passage_rows) are in ``passages``
        self.fact_rows = 0  # fact rows [0, fact_rows) have a group, indexed in ``facts``
        self._group_keys: dict[int, int] = {}  # vector hash -> group id (facts with own rows)
        self._vector_seen = np.zeros(0, dtype=bool)  # vector rows indexed (shared vectors)
        self._group_count = 0
        self._group_of_fact = np.zeros(0, dtype=np.int64)
        self._mapped_facts = 0  # facts [0, _mapped_facts) are in the maps below
        self._by_group = _Grouping(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32))
        self._by_passage = self._by_group
        self._by_entity = self._by_group
        self._node_row = np.zeros(0, dtype=np.int64)
        self._tail_sources: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.int64))

    @property
    def nbytes(self) -> int:
        maps = sum(
            g.start.nbytes + g.items.nbytes for g in (self._by_group, self._by_passage, self._by_entity)
        )
        own = self._group_of_fact.nbytes + self._node_row.nbytes
        vectors = (
            self.passages.nbytes + self.facts.nbytes + self.passages_low.nbytes + self.fact_sample.nbytes
        )
        return vectors + maps + own

    def add(self, snapshot: Snapshot) -> None:
        """Index the passage and fact rows the snapshot holds beyond those indexed already."""
        self.catch_up(snapshot)

    def catch_up(self, snapshot: Snapshot) -> None:
        with self._lock:
            passages = len(snapshot.passage_ids)
            if passages > self.passage_rows:
                rows = np.arange(self.passage_rows, passages)
                vectors = snapshot.passage_matrix[self.passage_rows : passages]
                self.passages.add(rows, vectors)
                self.passages_low.add(rows, vectors)
                self.passage_rows = passages
            facts = len(snapshot.fact_ids)
            if facts > self.fact_rows:
                self._add_facts(snapshot, np.arange(self.fact_rows, facts))
                self.fact_rows = facts
            tail = self.fact_rows - self._mapped_facts
            if tail and tail >= max(10_000, self._mapped_facts // 4):
                self._build_maps(snapshot)
            elif tail:
                tail_rows = np.arange(self._mapped_facts, self.fact_rows)
                at, sources = _sources_of(snapshot, tail_rows)
                self._tail_sources = (tail_rows[at], sources)
            if len(self._node_row) != snapshot.transitions.n:
                node_row = np.full(snapshot.transitions.n, -1, dtype=np.int64)
                node_row[snapshot.passage_nodes] = np.arange(len(snapshot.passage_nodes))
                self._node_row = node_row

    def _add_facts(self, snapshot: Snapshot, rows: np.ndarray) -> None:
        """Give the new fact rows their vector group, and index the groups not seen before."""
        keys = self._vector_keys(snapshot, rows)
        unique, first = np.unique(keys, return_index=True)
        if snapshot.fact_vector_rows is not None:  # the snapshot's vector row is the group
            groups = unique
            new = ~self._seen_vectors(len(snapshot.fact_matrix))[unique]
            self._vector_seen[unique] = True
        else:
            known = self._group_keys
            groups = np.empty(len(unique), dtype=np.int64)
            new = np.zeros(len(unique), dtype=bool)
            for i, key in enumerate(unique.tolist()):
                group = known.get(key)
                if group is None:
                    group = known[key] = len(known)
                    new[i] = True
                groups[i] = group
        self._group_of_fact = np.concatenate([self._group_of_fact, groups[np.searchsorted(unique, keys)]])
        self._group_count = max(self._group_count, int(groups.max()) + 1 if groups.size else 0)
        new_groups, new_rows = groups[new], rows[first[new]]
        for start in range(0, len(new_groups), _ADD_CHUNK):  # bounded copies of the vectors
            chunk = slice(start, start + _ADD_CHUNK)
            vectors = _fact_vectors(snapshot, new_rows[chunk])
            self.facts.add(new_groups[chunk], vectors)
            if len(self.fact_sample) < _FACT_SAMPLE:
                rng = np.random.default_rng(len(self.fact_sample))
                take = min(_FACT_SAMPLE - len(self.fact_sample), len(vectors) // 8 or len(vectors))
                picked = vectors[np.sort(rng.choice(len(vectors), take, replace=False))]
                self.fact_sample = np.vstack([self.fact_sample, np.asarray(picked, dtype=np.float32)])

    @staticmethod
    def _vector_keys(snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
        if snapshot.fact_vector_rows is not None:
            return snapshot.fact_vector_rows[rows].astype(np.int64)
        return _row_hashes(snapshot.fact_matrix[rows]).view(np.int64)

    def _seen_vectors(self, size: int) -> np.ndarray:
        if len(self._vector_seen) < size:
            grown = np.zeros(size, dtype=bool)
            grown[: len(self._vector_seen)] = self._vector_seen
            self._vector_seen = grown
        return self._vector_seen

    def _build_maps(self, snapshot: Snapshot) -> None:
        facts = self.fact_rows
        rows = np.arange(facts)
        self._by_group = _Grouping.of(self._group_of_fact[:facts], rows, self._group_count)
        source_facts, source_passages = _sources_of(snapshot, rows)  # rows[i] == i
        self._by_passage = _Grouping.of(source_passages, source_facts, len(snapshot.passage_ids))
        ends = np.concatenate([snapshot.fact_subject_nodes[:facts], snapshot.fact_object_nodes[:facts]])
        self._by_entity = _Grouping.of(ends, np.concatenate([rows, rows]), snapshot.transitions.n)
        self._mapped_facts = facts
        self._tail_sources = (np.zeros(0, np.int64), np.zeros(0, np.int64))

    # --- candidate lookups (rows beyond the snapshot's are dropped by the caller) --------------

    def facts_of_groups(self, groups: np.ndarray) -> np.ndarray:
        found = [self._by_group.members(groups)]
        tail = self._group_of_fact[self._mapped_facts : self.fact_rows]
        if tail.size:
            found.append(self._mapped_facts + np.flatnonzero(np.isin(tail, groups)))
        return np.concatenate(found)

    def facts_of_passages(self, passage_rows: np.ndarray) -> np.ndarray:
        found = [self._by_passage.members(passage_rows)]
        tail_facts, tail_passages = self._tail_sources
        if tail_facts.size:
            found.append(tail_facts[np.isin(tail_passages, passage_rows)])
        return np.concatenate(found)

    def facts_of_entities(self, snapshot: Snapshot, nodes: np.ndarray) -> np.ndarray:
        found = [self._by_entity.members(nodes)]
        if self.fact_rows > self._mapped_facts:
            lo, hi = self._mapped_facts, self.fact_rows
            hit = np.isin(snapshot.fact_subject_nodes[lo:hi], nodes) | np.isin(
                snapshot.fact_object_nodes[lo:hi], nodes
            )
            found.append(lo + np.flatnonzero(hit))
        return np.concatenate(found)

    def group_of(self, facts: np.ndarray) -> np.ndarray:
        """The vector group of each (indexed) fact row."""
        return self._group_of_fact[facts]

    def passage_rows_of(self, nodes: np.ndarray) -> np.ndarray:
        """Passage row of each node (-1 for an entity or a node the index has not seen)."""
        inside = nodes < len(self._node_row)
        out = np.full(len(nodes), -1, dtype=np.int64)
        out[inside] = self._node_row[nodes[inside]]
        return out


def _sources_of(snapshot: Snapshot, facts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The passages stating the given facts, as (position in ``facts``, passage row) pairs."""
    starts, ends = snapshot.fact_source_start[facts], snapshot.fact_source_start[facts + 1]
    passages = _ragged(snapshot.fact_source_rows, starts, ends)
    return np.repeat(np.arange(len(facts)), ends - starts), passages.astype(np.int64)


_attach_lock = threading.Lock()


def walk_index(snapshot: Snapshot) -> WalkIndex:
    """The snapshot's walk index, built on first use if the snapshot came without one, and
    caught up with rows appended since."""
    index = snapshot.walk_index
    if index is None:
        with _attach_lock:
            index = snapshot.walk_index
            if index is None:
                index = WalkIndex(snapshot.passage_matrix.shape[1])
                index.catch_up(snapshot)
                object.__setattr__(snapshot, "walk_index", index)  # the one lazily set field
                return index
    if index.passage_rows < len(snapshot.passage_ids) or index.fact_rows < len(snapshot.fact_ids):
        index.catch_up(snapshot)
    return index


# --- the walk ------------------------------------------------------------------------------------

# Candidates read from the coarse indexes with the negated query and scored exactly: the lowest
# score among them stands for the lowest of all (the min of the min-max normalizations).
_LOW_PASSAGES = 1000
_FACT_SAMPLE = 8192  # fact vectors kept to estimate the lowest fact score
_ADD_CHUNK = 65_536  # vectors encoded at a time


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
