"""The per-namespace, in-memory retrieval snapshot, kept in step with ``graph_version``.

Everything a query needs lives here — the walk's transition matrix, passage/fact vector matrices aligned with
graph nodes, which passages state each fact, an index of entity names — so a query does no store
round trips until it fetches the text of the passages it returns. Both graph backends feed the
same snapshot, which is why they rank identically.

A write made by this process extends the cached snapshot (``SnapshotCache.follow_write``); any
other change (a delete, another process's write) is rebuilt in the background while queries go
on with the newest complete snapshot: a query only ever waits for the first build.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from service.domain.models import GraphWriteBatch
from service.domain.normalize import normalize_name
from service.observability.metrics import SNAPSHOT_BUILDS, SNAPSHOT_SECONDS
from service.retrieval.keyed_cache import KeyedCache
from service.retrieval.ppr import TransitionMatrix
from service.stores.base import GraphStore

if TYPE_CHECKING:
    from service.retrieval.approximate import WalkIndex

logger = logging.getLogger(__name__)

_WORDS = re.compile(r"\w+")
# Entity names shorter than this (normalized) are not matched against question words.
MIN_NAME_CHARS = 4


def name_key(text: str) -> tuple[str, ...]:
    """Word tokens of a normalized string: the unit question/entity-name matching works on."""
    return tuple(_WORDS.findall(normalize_name(text)))


@dataclass(frozen=True)
class Snapshot:
    namespace: str
    version: int
    transitions: TransitionMatrix
    node_ids: list[str]
    passage_ids: list[str]  # rows of passage_matrix
    passage_matrix: np.ndarray
    passage_nodes: np.ndarray  # node index of each passage row
    fact_ids: list[str]  # rows of fact_matrix
    fact_matrix: np.ndarray
    fact_subject_nodes: np.ndarray
    fact_object_nodes: np.ndarray
    fact_texts: list[str]
    # Passage rows stating each fact, flattened: fact row i owns
    # fact_source_rows[fact_source_start[i]:fact_source_start[i + 1]] (never empty).
    fact_source_rows: np.ndarray
    fact_source_start: np.ndarray
    entity_passage_counts: np.ndarray  # per node: passages mentioning it (0 for passages)
    entity_names: dict[int, str]  # node index -> entity name as stored
    name_index: dict[tuple[str, ...], list[int]]  # name_key -> entity nodes (names >= min chars)
    max_name_tokens: int
    # When set, facts share vectors: fact row i's vector is fact_matrix[fact_vector_rows[i]]
    # (facts read from one sentence share its evidence vector). None: row i is fact i's vector.
    fact_vector_rows: np.ndarray | None = None
    # The approximate walk's indexes (retrieval.approximate), for namespaces above
    # RetrievalSettings.approximate_above passages: built with the snapshot, or on first use.
    walk_index: WalkIndex | None = field(default=None, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not self.passage_ids

    def fact_cosines(self, query: np.ndarray) -> np.ndarray:
        """Per fact row, the inner product of its vector with the query (a dense scan)."""
        if self.fact_vector_rows is None:
            return self.fact_matrix @ query
        return (self.fact_matrix @ query)[self.fact_vector_rows]

    @cached_property
    def fact_tie_rank(self) -> np.ndarray:
        """Per fact row, its place among all facts by (statement length, statement text): how
        fact linking breaks exact ties. Facts read from one sentence share its evidence vector
        and tie exactly; the shortest statement joins the closest entities (the likeliest direct
        relation). Unlike the row, which follows ids that hash the namespace's name, this order
        is the same in every namespace holding the same documents."""
        order = sorted(
            range(len(self.fact_texts)), key=lambda r: (len(self.fact_texts[r]), self.fact_texts[r])
        )
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return rank

    def fact_source_max(self, passage_scores: np.ndarray) -> np.ndarray:
        """Per fact, the best score among the passages that state it."""
        if not self.fact_ids:
            return np.zeros(0)
        return np.maximum.reduceat(passage_scores[self.fact_source_rows], self.fact_source_start[:-1])


def build_snapshot(store: GraphStore, namespace: str, *, min_name_chars: int = MIN_NAME_CHARS) -> Snapshot:
    """The namespace's snapshot, read from the store. Its ``version`` is the store's version
    before and after the reads; if a write landed during them (the content may be newer than
    any version), the version is -1: such a snapshot is served, never extended, and rebuilt."""
    for _ in range(3):
        snapshot = _read_snapshot(store, namespace, min_name_chars)
        if store.graph_version(namespace) == snapshot.version:
            return snapshot
    return replace(snapshot, version=-1)


def _read_snapshot(store: GraphStore, namespace: str, min_name_chars: int) -> Snapshot:
    started = time.perf_counter()
    version = store.graph_version(namespace)
    export = store.export_graph(namespace)
    index = {node: i for i, node in enumerate(export.node_ids)}
    n = len(export.node_ids)
    is_passage = np.array([k == "passage" for k in export.node_kinds], dtype=bool)

    transitions = TransitionMatrix(n, export.edges)

    counts = np.zeros(n, dtype=float)
    for i, j, _ in export.edges:
        if is_passage[i] != is_passage[j]:
            counts[j if is_passage[i] else i] += 1

    passage_ids, passage_matrix = store.export_vectors(namespace, "passage")
    keep = [k for k, p in enumerate(passage_ids) if p in index]
    passage_ids = [passage_ids[k] for k in keep]
    passage_matrix = passage_matrix[keep] if keep else np.zeros((0, 0), np.float32)
    passage_row = {p: r for r, p in enumerate(passage_ids)}

    sources: dict[str, list[int]] = defaultdict(list)
    for fact, passage in store.fact_sources(namespace):
        if passage in passage_row:
            sources[fact].append(passage_row[passage])

    fact_ids, fact_matrix = store.export_vectors(namespace, "fact")
    facts = store.get_facts(namespace, fact_ids)
    keep = [
        k
        for k, f in enumerate(fact_ids)
        if f in facts and f in sources and facts[f].subject_id in index and facts[f].object_id in index
    ]
    fact_ids = [fact_ids[k] for k in keep]
    fact_matrix = fact_matrix[keep] if keep else np.zeros((0, 0), np.float32)
    source_lists = [sorted(sources[f]) for f in fact_ids]
    starts = np.zeros(len(fact_ids) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([len(s) for s in source_lists])

    entity_nodes = [node for node, passage in zip(export.node_ids, is_passage, strict=True) if not passage]
    names = store.get_entity_names(namespace, entity_nodes)
    name_index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for entity, name in sorted(names.items()):
        if len(normalize_name(name)) >= min_name_chars:
            key = name_key(name)
            if key:
                name_index[key].append(index[entity])

    snapshot = Snapshot(
        namespace=namespace,
        version=version,
        transitions=transitions,
        node_ids=export.node_ids,
        passage_ids=passage_ids,
        passage_matrix=passage_matrix,
        passage_nodes=np.array([index[p] for p in passage_ids], dtype=np.int64),
        fact_ids=fact_ids,
        fact_matrix=fact_matrix,
        fact_subject_nodes=np.array([index[facts[f].subject_id] for f in fact_ids], dtype=np.int64),
        fact_object_nodes=np.array([index[facts[f].object_id] for f in fact_ids], dtype=np.int64),
        fact_texts=[f"{facts[f].subject} {facts[f].relation} {facts[f].object}" for f in fact_ids],
        fact_source_rows=np.array([r for s in source_lists for r in s], dtype=np.int64),
        fact_source_start=starts,
        entity_passage_counts=counts,
        entity_names={index[e]: name for e, name in names.items()},
        name_index=dict(name_index),
        max_name_tokens=max((len(k) for k in name_index), default=0),
    )
    logger.info(
        "snapshot %s v%d: %d nodes, %d edges, %d facts in %.0f ms",
        namespace,
        version,
        n,
        len(export.edges),
        len(fact_ids),
        (time.perf_counter() - started) * 1000,
    )
    return snapshot


class SnapshotCache:
    """One snapshot per namespace, rebuilt lazily when the store's graph_version moves; at most
    ``max_namespaces`` are held (the least recently used goes first)."""

    def __init__(
        self, store: GraphStore, *, max_namespaces: int = 16, walk_index_above: int | None = None
    ) -> None:
        self._store = store
        self._snapshots: KeyedCache[str, Snapshot] = KeyedCache(max(1, max_namespaces))
        # Snapshots of more passages than this are built with their walk index (the approximate
        # walk's, RetrievalSettings.approximate_above); otherwise a query builds it on first use.
        self._walk_index_above = walk_index_above

    def _build(self, namespace: str) -> Snapshot:
        with SNAPSHOT_SECONDS.labels("full").time():
            snapshot = build_snapshot(self._store, namespace)
        SNAPSHOT_BUILDS.labels("full").inc()
        above = self._walk_index_above
        if above is not None and len(snapshot.passage_ids) > above:
            from service.retrieval.approximate import walk_index

            walk_index(snapshot)
        return snapshot

    def get(self, namespace: str) -> Snapshot:
        """The namespace's newest complete snapshot. Only the first query of a namespace waits
        for a build; a stale snapshot is returned while its replacement builds in the background."""
        current = self._snapshots.peek(namespace)
        if current is not None:
            if current.version != self._store.graph_version(namespace):
                self._snapshots.refresh_in_background(
                    namespace,
                    lambda: self._build(namespace),
                    lambda built, held: built.version > held.version,
                    lambda: logger.exception("background snapshot build of %s failed", namespace),
                )
            return current
        return self._snapshots.get(
            namespace,
            fresh=lambda snapshot: True,
            build=lambda: self._build(namespace),
        )

    def rebuild(self, namespace: str) -> None:
        """Build the namespace's snapshot again now, if one is cached (a delete made by this
        process pays for its rebuild, so that no query after it sees what it deleted)."""
        current = self._snapshots.peek(namespace)
        if current is not None:
            self._snapshots.swap(namespace, current, self._build(namespace))

    def follow_write(self, batch: GraphWriteBatch, version: int) -> None:
        """Extend the cached snapshot with a write this process just made (the store moved to
        ``version``). Only a snapshot at ``version - 1`` can be extended; any other is left to
        the background rebuild."""
        from service.retrieval.snapshot_delta import extend_snapshot

        current = self._snapshots.peek(batch.namespace)
        if current is None or current.version != version - 1:
            return
        started = time.perf_counter()
        extended = extend_snapshot(current, batch, version)
        if extended.walk_index is not None:  # index the new rows here, off the query path
            extended.walk_index.catch_up(extended)
        SNAPSHOT_SECONDS.labels("extend").observe(time.perf_counter() - started)
        SNAPSHOT_BUILDS.labels("extend").inc()
        if self._snapshots.swap(batch.namespace, current, extended):
            logger.debug(
                "snapshot %s v%d extended by %d passages in %.0f ms",
                batch.namespace,
                version,
                len(extended.passage_ids) - len(current.passage_ids),
                (time.perf_counter() - started) * 1000,
            )

    def drop(self, namespace: str) -> None:
        self._snapshots.drop(namespace)
