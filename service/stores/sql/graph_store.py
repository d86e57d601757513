"""The SQL graph backend (embedded default): graph rows and vectors in the relational database.

Vectors are stored as float32 blobs and searched exactly with numpy from a per-namespace
in-memory matrix (``VectorCache``) that follows ``graph_version``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import InterfaceError, OperationalError

from service.domain.models import (
    GraphExport,
    GraphStats,
    GraphWriteBatch,
    NodeKind,
    StoredFact,
    StoredPassage,
    VectorKind,
)
from service.errors import GraphStoreUnavailable
from service.stores.batching import chunks
from service.stores.export import build_export
from service.stores.sql import tables as t
from service.stores.sql.db import reader
from service.stores.sql.dialect import insert_ignore, upsert
from service.stores.vector_cache import VectorCache, top_k_search

_CHUNK = 500  # ids per IN (...) list


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_blobs(blobs: Sequence[bytes]) -> np.ndarray:
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1).copy()


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

    def _bump_version(self, conn: Connection, namespace: str) -> tuple[int, int]:
        """(before, after). One upsert, so two first writers of a namespace cannot both insert."""
        v = t.graph_versions.c
        result = upsert(
            conn,
            t.graph_versions,
            {"namespace": namespace, "version": 1},
            key=[v.namespace],
            set_={"version": v.version + 1},
            returning=[v.version],
        )
        after = int(result.scalar_one())
        return after - 1, after

    @_unavailable_on_outage
    def write(self, batch: GraphWriteBatch) -> None:
        ns = batch.namespace
        with self._engine.begin() as conn:
            insert_ignore(
                conn,
                t.passages,
                [
                    {
                        "id": p.id,
                        "namespace": ns,
                        "document_id": p.document_id,
                        "idx": p.index,
                        "title": p.title,
                        "text": p.text,
                    }
                    for p in batch.passages
                ],
            )
            insert_ignore(
                conn, t.entities, [{"id": e.id, "namespace": ns, "name": e.name} for e in batch.entities]
            )
            insert_ignore(
                conn,
                t.facts,
                [
                    {
                        "id": f.id,
                        "namespace": ns,
                        "subject_id": f.subject_id,
                        "relation": f.relation,
                        "object_id": f.object_id,
                    }
                    for f in batch.facts
                ],
            )
            insert_ignore(
                conn, t.fact_passages, [{"fact_id": f.id, "passage_id": f.passage_id} for f in batch.facts]
            )
            insert_ignore(
                conn,
                t.mentions,
                [{"passage_id": m.passage_id, "entity_id": m.entity_id} for m in batch.mentions],
            )
            insert_ignore(
                conn,
                t.synonyms,
                [
                    {"namespace": ns, "entity_a": s.entity_a, "entity_b": s.entity_b, "score": s.score}
                    for s in batch.synonyms
                ],
            )
            vector_rows = (
                [
                    {"item_id": p.id, "namespace": ns, "kind": "passage", "vector": to_blob(p.embedding)}
                    for p in batch.passages
                ]
                + [
                    {"item_id": e.id, "namespace": ns, "kind": "entity", "vector": to_blob(e.embedding)}
                    for e in batch.entities
                ]
                + [
                    {"item_id": f.id, "namespace": ns, "kind": "fact", "vector": to_blob(f.embedding)}
                    for f in batch.facts
                ]
            )
            insert_ignore(conn, t.vectors, vector_rows)
            before, after = self._bump_version(conn, ns)
        self._vectors.follow_write(batch, before, after)

    @_unavailable_on_outage
    def delete_documents(self, namespace: str, document_ids: Sequence[str]) -> None:
        if not document_ids:
            return
        with self._engine.begin() as conn:
            passage_ids: list[str] = []
            for chunk in chunks(list(document_ids), _CHUNK):
                passage_ids += (
                    conn.execute(
                        select(t.passages.c.id).where(
                            t.passages.c.namespace == namespace, t.passages.c.document_id.in_(chunk)
                        )
                    )
                    .scalars()
                    .all()
                )
            if passage_ids:
                self._delete_passages(conn, namespace, passage_ids)
            self._bump_version(conn, namespace)
        self._vectors.invalidate(namespace)

    def _delete_passages(self, conn: Connection, namespace: str, passage_ids: list[str]) -> None:
        fact_ids: set[str] = set()
        entity_ids: set[str] = set()
        for chunk in chunks(passage_ids, _CHUNK):
            fact_ids.update(
                conn.execute(
                    select(t.fact_passages.c.fact_id).where(t.fact_passages.c.passage_id.in_(chunk))
                ).scalars()
            )
            entity_ids.update(
                conn.execute(
                    select(t.mentions.c.entity_id).where(t.mentions.c.passage_id.in_(chunk))
                ).scalars()
            )
            conn.execute(t.fact_passages.delete().where(t.fact_passages.c.passage_id.in_(chunk)))
            conn.execute(t.mentions.delete().where(t.mentions.c.passage_id.in_(chunk)))
        still_supported: set[str] = set()
        for chunk in chunks(sorted(fact_ids), _CHUNK):
            still_supported.update(
                conn.execute(
                    select(t.fact_passages.c.fact_id).where(t.fact_passages.c.fact_id.in_(chunk)).distinct()
                ).scalars()
            )
        dead_facts = sorted(fact_ids - still_supported)
        still_mentioned: set[str] = set()
        for chunk in chunks(sorted(entity_ids), _CHUNK):
            still_mentioned.update(
                conn.execute(
                    select(t.mentions.c.entity_id).where(t.mentions.c.entity_id.in_(chunk)).distinct()
                ).scalars()
            )
        dead_entities = sorted(entity_ids - still_mentioned)
        for chunk in chunks(dead_facts, _CHUNK):
            conn.execute(t.facts.delete().where(t.facts.c.id.in_(chunk)))
        for chunk in chunks(dead_entities, _CHUNK):
            conn.execute(t.synonyms.delete().where(t.synonyms.c.entity_a.in_(chunk)))
            conn.execute(t.synonyms.delete().where(t.synonyms.c.entity_b.in_(chunk)))
            conn.execute(t.entities.delete().where(t.entities.c.id.in_(chunk)))
        for chunk in chunks(passage_ids + dead_facts + dead_entities, _CHUNK):
            conn.execute(t.vectors.delete().where(t.vectors.c.item_id.in_(chunk)))
        for chunk in chunks(passage_ids, _CHUNK):
            conn.execute(t.passages.delete().where(t.passages.c.id.in_(chunk)))

    @_unavailable_on_outage
    def delete_namespace(self, namespace: str) -> None:
        with self._engine.begin() as conn:
            passage_ids = select(t.passages.c.id).where(t.passages.c.namespace == namespace)
            fact_ids = select(t.facts.c.id).where(t.facts.c.namespace == namespace)
            conn.execute(t.fact_passages.delete().where(t.fact_passages.c.fact_id.in_(fact_ids)))
            conn.execute(t.mentions.delete().where(t.mentions.c.passage_id.in_(passage_ids)))
            conn.execute(t.synonyms.delete().where(t.synonyms.c.namespace == namespace))
            conn.execute(t.facts.delete().where(t.facts.c.namespace == namespace))
            conn.execute(t.entities.delete().where(t.entities.c.namespace == namespace))
            conn.execute(t.passages.delete().where(t.passages.c.namespace == namespace))
            conn.execute(t.vectors.delete().where(t.vectors.c.namespace == namespace))
            self._bump_version(conn, namespace)  # kept, never reset (GraphStore.graph_version)
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
            passage_ids = (
                conn.execute(
                    select(t.passages.c.id)
                    .where(t.passages.c.namespace == namespace)
                    .order_by(t.passages.c.id)
                )
                .scalars()
                .all()
            )
            entity_ids = (
                conn.execute(
                    select(t.entities.c.id)
                    .where(t.entities.c.namespace == namespace)
                    .order_by(t.entities.c.id)
                )
                .scalars()
                .all()
            )
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
        node_ids = list(passage_ids) + list(entity_ids)
        kinds: list[NodeKind] = ["passage"] * len(passage_ids) + ["entity"] * len(entity_ids)
        return build_export(node_ids, kinds, fact_pairs, mention_pairs, synonym_pairs)

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
        return [r[0] for r in rows], from_blobs([r[1] for r in rows])

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
            for chunk in chunks(list(ids), _CHUNK):
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
            for chunk in chunks(list(ids), _CHUNK):
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
            for chunk in chunks(list(ids), _CHUNK):
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
            for chunk in chunks(list(ids), _CHUNK):
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
