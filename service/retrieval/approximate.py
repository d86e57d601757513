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
