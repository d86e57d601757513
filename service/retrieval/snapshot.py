"""The per-namespace, in-memory retrieval snapshot, rebuilt when ``graph_version`` changes.

Everything a query needs lives here — the igraph graph, passage/fact vector matrices aligned with
graph nodes, entity names — so a query does no store round trips until it fetches the text of
the passages it returns. Both graph backends feed the same snapshot, which is why they rank
identically.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import igraph as ig
import numpy as np

from service.domain.normalize import normalize_name
from service.stores.base import GraphStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    namespace: str
    version: int
    graph: ig.Graph
    node_ids: list[str]
    is_passage: np.ndarray  # bool per node
    passage_ids: list[str]  # rows of passage_matrix
    passage_matrix: np.ndarray
    passage_nodes: np.ndarray  # node index of each passage row
    fact_ids: list[str]  # rows of fact_matrix
    fact_matrix: np.ndarray
    fact_subject_nodes: np.ndarray
    fact_object_nodes: np.ndarray
    fact_texts: list[str]
    entity_passage_counts: np.ndarray  # per node: passages mentioning it (0 for passages)
    entity_names: dict[int, str]  # node index -> normalized entity name

    @property
    def empty(self) -> bool:
        return not self.passage_ids


def build_snapshot(store: GraphStore, namespace: str) -> Snapshot:
    started = time.perf_counter()
    version = store.graph_version(namespace)
    export = store.export_graph(namespace)
    index = {node: i for i, node in enumerate(export.node_ids)}
    n = len(export.node_ids)
    is_passage = np.array([k == "passage" for k in export.node_kinds], dtype=bool)

    graph = ig.Graph(n=n, edges=[(i, j) for i, j, _ in export.edges], directed=False)
    graph.es["weight"] = [w for _, _, w in export.edges]

    counts = np.zeros(n, dtype=float)
    for i, j, _ in export.edges:
        if is_passage[i] != is_passage[j]:
            counts[j if is_passage[i] else i] += 1

    passage_ids, passage_matrix = store.export_vectors(namespace, "passage")
    keep = [k for k, p in enumerate(passage_ids) if p in index]
    passage_ids = [passage_ids[k] for k in keep]
    passage_matrix = passage_matrix[keep] if keep else np.zeros((0, 0), np.float32)

    fact_ids, fact_matrix = store.export_vectors(namespace, "fact")
    facts = store.get_facts(namespace, fact_ids)
    keep = [
        k
        for k, f in enumerate(fact_ids)
        if f in facts and facts[f].subject_id in index and facts[f].object_id in index
    ]
    fact_ids = [fact_ids[k] for k in keep]
    fact_matrix = fact_matrix[keep] if keep else np.zeros((0, 0), np.float32)

    entity_nodes = [node for node, passage in zip(export.node_ids, is_passage, strict=True) if not passage]
    names = store.get_entity_names(namespace, entity_nodes)
    snapshot = Snapshot(
        namespace=namespace,
        version=version,
        graph=graph,
        node_ids=export.node_ids,
        is_passage=is_passage,
        passage_ids=passage_ids,
        passage_matrix=passage_matrix,
        passage_nodes=np.array([index[p] for p in passage_ids], dtype=np.int64),
        fact_ids=fact_ids,
        fact_matrix=fact_matrix,
        fact_subject_nodes=np.array([index[facts[f].subject_id] for f in fact_ids], dtype=np.int64),
        fact_object_nodes=np.array([index[facts[f].object_id] for f in fact_ids], dtype=np.int64),
        fact_texts=[f"{facts[f].subject} {facts[f].relation} {facts[f].object}" for f in fact_ids],
        entity_passage_counts=counts,
        entity_names={index[e]: normalize_name(name) for e, name in names.items()},
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
    """One snapshot per namespace; rebuilt lazily when the store's graph_version moves."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store
        self._snapshots: dict[str, Snapshot] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, namespace: str) -> Snapshot:
        version = self._store.graph_version(namespace)
        current = self._snapshots.get(namespace)
        if current is not None and current.version == version:
            return current
        with self._guard:
            lock = self._locks.setdefault(namespace, threading.Lock())
        with lock:
            current = self._snapshots.get(namespace)
            if current is not None and current.version == self._store.graph_version(namespace):
                return current
            snapshot = build_snapshot(self._store, namespace)
            self._snapshots[namespace] = snapshot
            return snapshot

    def drop(self, namespace: str) -> None:
        self._snapshots.pop(namespace, None)
