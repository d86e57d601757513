"""Storage contracts. Every backend honours these; ``tests/contract`` proves it per backend.

The graph is undirected for retrieval. Ids are content hashes that already include the
namespace, so an id never names two different things; every method still takes the namespace
and never reads or touches rows of another namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from service.domain.models import (
    GraphExport,
    GraphStats,
    GraphWriteBatch,
    StoredFact,
    StoredPassage,
    VectorKind,
)

VectorHits = list[list[tuple[str, float]]]


@runtime_checkable
class GraphStore(Protocol):
    """Passages, entities, facts, mentions, synonym edges and their vectors, per namespace."""

    def ensure_schema(self, embedding_dim: int) -> None:
        """Create constraints/indexes the backend needs (idempotent). Called by ``migrate``."""

    def write(self, batch: GraphWriteBatch) -> int:
        """Write a batch (one or more documents' nodes, edges and vectors) in ONE transaction.

        Idempotent: writing the same batch twice leaves the store as after the first write.
        Existing entities and facts are shared (a second supporting passage is recorded, the
        node is not duplicated). Bumps ``graph_version`` by one and returns the new version.
        """

    def delete_documents(self, namespace: str, document_ids: Sequence[str]) -> None:
        """Remove the documents' passages and everything only they support, in ONE transaction:
        their mentions, facts with no other supporting passage, entities left without a
        passage, those entities' synonym edges, and the vectors of everything removed.
        Bumps ``graph_version``."""

    def delete_namespace(self, namespace: str) -> None:
        """Remove every node, edge and vector of the namespace. Bumps ``graph_version`` and keeps
        it: a namespace created again under the same name continues from there, so a cache keyed
        by ``(namespace, version)`` never mistakes new content for old. Safe to repeat."""

    def graph_version(self, namespace: str) -> int:
        """Monotonic counter changed by every write or delete, never reset (not even by
        ``delete_namespace``); 0 for a namespace that was never written."""

    def export_graph(self, namespace: str) -> GraphExport:
        """All passage and entity nodes and the weighted undirected edges between them:
        fact edges (weight = number of (fact, supporting passage) pairs for the entity pair),
        mention edges passage-entity (weight 1) and synonym edges (weight = cosine)."""

    def fact_sources(self, namespace: str) -> list[tuple[str, str]]:
        """Every ``(fact_id, passage_id)`` pair: which passages state which fact."""

    def export_vectors(self, namespace: str, kind: VectorKind) -> tuple[list[str], np.ndarray]:
        """Every vector of a kind, as ids and an ``(n, dim)`` float32 matrix (rows L2-normalized)."""

    def search_vectors(
        self,
        namespace: str,
        kind: VectorKind,
        queries: np.ndarray,
        top_k: int,
        min_score: float = -1.0,
    ) -> VectorHits:
        """Nearest neighbours by cosine for each query row, best first, score >= min_score."""

    def existing_entity_ids(self, namespace: str, ids: Iterable[str]) -> set[str]:
        """The subset of ``ids`` that are already entity nodes."""

    def get_passages(self, namespace: str, ids: Iterable[str]) -> dict[str, StoredPassage]: ...

    def get_facts(self, namespace: str, ids: Iterable[str]) -> dict[str, StoredFact]: ...

    def get_entity_names(self, namespace: str, ids: Iterable[str]) -> dict[str, str]: ...

    def stats(self, namespace: str) -> GraphStats: ...

    def close(self) -> None: ...
