"""The SQL graph backend (embedded default): graph rows and vectors in the relational database.

Vectors are stored as float32 blobs and searched exactly with numpy from a per-namespace
in-memory matrix (``VectorCache``) that follows ``graph_version``. This module holds the
transactions and the reads; the statements of writes and deletes are in ``graph_writes.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import InterfaceError, OperationalError

from service.domain.models import (
    GraphExport,
    GraphStats,
    GraphWriteBatch,
    StoredFact,
    StoredPassage,
    VectorKind,
)
from service.errors import GraphStoreUnavailable
from service.stores.batching import chunks
from service.stores.export import build_export
from service.stores.sql import graph_writes as writes
from service.stores.sql import tables as t
from service.stores.sql.db import reader
from service.stores.vector_cache import VectorCache, top_k_search

T = TypeVar("T")


def _unavailable_on_outage(fn: Callable[..., T]) -> Callable[..., T]:
    """Lost connections and lock timeouts (OperationalError/InterfaceError) mean the database is
    unavailable, not that the data is wrong: callers retry later instead of failing documents."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            raise GraphStoreUnavailable(f"the SQL graph store is unavailable: {exc.orig or exc}") from exc

    return wrapper


class SqlGraphStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._vectors = VectorCache()

    # --- schema -----------------------------------------------------------------------------

    def ensure_schema(self, embedding_dim: int) -> None:
        """Tables come from the Alembic migration; nothing backend-specific to create."""

    # --- writes -----------------------------------------------------------------------------

    @_unavailable_on_outage
    def write(self, batch: GraphWriteBatch) -> int:
        with self._engine.begin() as conn:
            writes.insert_batch(conn, batch)
            before, after = writes.bump_version(conn, batch.namespace)
        self._vectors.follow_write(batch, before, after)
        return after

    @_unavailable_on_outage
    def delete_documents(self, namespace: str, document_ids: Sequence[str]) -> None:
        if not document_ids:
            return
        with self._engine.begin() as conn:
            writes.delete_documents(conn, namespace, document_ids)
            writes.bump_version(conn, namespace)
        self._vectors.invalidate(namespace)

    @_unavailable_on_outage
    def delete_namespace(self, namespace: str) -> None:
        with self._engine.begin() as conn:
            writes.delete_namespace(conn, namespace)
            writes.bump_version(conn, namespace)  # kept, never reset (GraphStore.graph_version)
        self._vectors.invalidate(namespace)

    # --- reads ------------------------------------------------------------------------------

    def graph_version(self, namespace: str) -> int:
        with reader(self._engine) as conn:
            version = conn.execute(
                select(t.graph_versions.c.version).where(t.graph_versions.c.namespace == namespace)
            ).scalar_one_or_none()
        return int(version or 0)

    def export_graph(self, namespace: str) -> GraphExport:
        with reader(self._engine) as conn:

            def node_ids_of(table) -> Sequence[str]:
                query = select(table.c.id).where(table.c.namespace == namespace).order_by(table.c.id)
                return conn.execute(query).scalars().all()

            passage_ids = node_ids_of(t.passages)
            entity_ids = node_ids_of(t.entities)
            fact_pairs = conn.execute(
                select(t.facts.c.subject_id, t.facts.c.object_id, func.count())
                .select_from(t.facts.join(t.fact_passages, t.fact_passages.c.fact_id == t.facts.c.id))
                .where(t.facts.c.namespace == namespace)
                .group_by(t.facts.c.subject_id, t.facts.c.object_id)
            ).all()
            mention_pairs = conn.execute(
                select(t.mentions.c.passage_id, t.mentions.c.entity_id)
                .select_from(t.mentions.join(t.passages, t.passages.c.id == t.mentions.c.passage_id))
                .where(t.passages.c.namespace == namespace)
            ).all()
            synonym_pairs = conn.execute(
                select(t.synonyms.c.entity_a, t.synonyms.c.entity_b, t.synonyms.c.score).where(
                    t.synonyms.c.namespace == namespace
                )
            ).all()
        return build_export(list(passage_ids), list(entity_ids), fact_pairs, mention_pairs, synonym_pairs)

    def fact_sources(self, namespace: str) -> list[tuple[str, str]]:
        with reader(self._engine) as conn:
            rows = conn.execute(
                select(t.fact_passages.c.fact_id, t.fact_passages.c.passage_id)
                .select_from(t.fact_passages.join(t.facts, t.facts.c.id == t.fact_passages.c.fact_id))
                .where(t.facts.c.namespace == namespace)
                .order_by(t.fact_passages.c.fact_id, t.fact_passages.c.passage_id)
            ).all()
        return [(r[0], r[1]) for r in rows]

    def _load_vectors(self, namespace: str, kind: str) -> tuple[list[str], np.ndarray]:
        with reader(self._engine) as conn:
            rows = conn.execute(
                select(t.vectors.c.item_id, t.vectors.c.vector)
                .where(t.vectors.c.namespace == namespace, t.vectors.c.kind == kind)
                .order_by(t.vectors.c.item_id)
            ).all()
        return [r[0] for r in rows], writes.from_blobs([r[1] for r in rows])

    def export_vectors(self, namespace: str, kind: VectorKind) -> tuple[list[str], np.ndarray]:
        version = self.graph_version(namespace)
        return self._vectors.get(namespace, kind, version, lambda: self._load_vectors(namespace, kind))

    def search_vectors(
        self, namespace: str, kind: VectorKind, queries: np.ndarray, top_k: int, min_score: float = -1.0
    ) -> list[list[tuple[str, float]]]:
        ids, matrix = self.export_vectors(namespace, kind)
        return top_k_search(ids, matrix, queries, top_k, min_score)

    def existing_entity_ids(self, namespace: str, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        with reader(self._engine) as conn:
            for chunk in chunks(list(ids), writes.CHUNK):
                found.update(
                    conn.execute(
                        select(t.entities.c.id).where(
                            t.entities.c.namespace == namespace, t.entities.c.id.in_(chunk)
                        )
                    ).scalars()
                )
        return found

    def get_passages(self, namespace: str, ids: Iterable[str]) -> dict[str, StoredPassage]:
        out: dict[str, StoredPassage] = {}
        with reader(self._engine) as conn:
            for chunk in chunks(list(ids), writes.CHUNK):
                for r in conn.execute(
                    select(
                        t.passages.c.id, t.passages.c.document_id, t.passages.c.title, t.passages.c.text
                    ).where(t.passages.c.namespace == namespace, t.passages.c.id.in_(chunk))
                ):
                    out[r.id] = StoredPassage(r.id, r.document_id, r.title, r.text)
        return out

    def get_facts(self, namespace: str, ids: Iterable[str]) -> dict[str, StoredFact]:
        subj = t.entities.alias("subj")
        obj = t.entities.alias("obj")
        out: dict[str, StoredFact] = {}
        with reader(self._engine) as conn:
            for chunk in chunks(list(ids), writes.CHUNK):
                for r in conn.execute(
                    select(
                        t.facts.c.id,
                        t.facts.c.subject_id,
                        subj.c.name,
                        t.facts.c.relation,
                        t.facts.c.object_id,
                        obj.c.name.label("object_name"),
                    )
                    .select_from(
                        t.facts.join(subj, subj.c.id == t.facts.c.subject_id).join(
                            obj, obj.c.id == t.facts.c.object_id
                        )
                    )
                    .where(t.facts.c.namespace == namespace, t.facts.c.id.in_(chunk))
                ):
                    out[r.id] = StoredFact(r.id, r.subject_id, r.name, r.relation, r.object_id, r.object_name)
        return out

    def get_entity_names(self, namespace: str, ids: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        with reader(self._engine) as conn:
            for chunk in chunks(list(ids), writes.CHUNK):
                out.update(
                    dict(
                        conn.execute(
                            select(t.entities.c.id, t.entities.c.name).where(
                                t.entities.c.namespace == namespace, t.entities.c.id.in_(chunk)
                            )
                        )
                        .tuples()
                        .all()
                    )
                )
        return out

    def stats(self, namespace: str) -> GraphStats:
        with reader(self._engine) as conn:

            def count(table) -> int:
                return int(
                    conn.execute(
                        select(func.count()).select_from(table).where(table.c.namespace == namespace)
                    ).scalar_one()
                )

            return GraphStats(
                passages=count(t.passages),
                entities=count(t.entities),
                facts=count(t.facts),
                synonym_edges=count(t.synonyms),
            )

    def close(self) -> None:
        """The engine belongs to the container, which disposes of it."""
