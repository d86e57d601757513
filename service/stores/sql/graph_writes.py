"""The write side of the SQL graph store: the statements of one write or delete transaction.

Every function runs on a connection whose transaction ``SqlGraphStore`` opened; the store owns
the transaction, the outage translation and the vector cache, and bumps ``graph_version`` in
the same transaction. Vectors are stored as float32 blobs (``to_blob`` / ``from_blobs``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Column, Connection, select

from service.domain.models import GraphWriteBatch
from service.stores.batching import chunks
from service.stores.sql import tables as t
from service.stores.sql.dialect import insert_ignore, upsert

CHUNK = 500  # ids per IN (...) list


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_blobs(blobs: Sequence[bytes]) -> np.ndarray:
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1).copy()


def bump_version(conn: Connection, namespace: str) -> tuple[int, int]:
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


def insert_batch(conn: Connection, batch: GraphWriteBatch) -> None:
    """Every row of the batch, insert-or-ignore: rows already stored (shared entities and facts,
    a batch written twice) are kept as they are."""
    ns = batch.namespace
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
    insert_ignore(conn, t.entities, [{"id": e.id, "namespace": ns, "name": e.name} for e in batch.entities])
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
    insert_ignore(conn, t.fact_passages, [{"fact_id": f.id, "passage_id": f.passage_id} for f in batch.facts])
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


def delete_documents(conn: Connection, namespace: str, document_ids: Sequence[str]) -> None:
    """The documents' passages and everything only they support (``GraphStore.delete_documents``)."""
    passage_ids: list[str] = []
    for chunk in chunks(list(document_ids), CHUNK):
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
        _delete_passages(conn, passage_ids)


def _delete_passages(conn: Connection, passage_ids: list[str]) -> None:
    fact_ids: set[str] = set()
    entity_ids: set[str] = set()
    for chunk in chunks(passage_ids, CHUNK):
        fact_ids.update(
            conn.execute(
                select(t.fact_passages.c.fact_id).where(t.fact_passages.c.passage_id.in_(chunk))
            ).scalars()
        )
        entity_ids.update(
            conn.execute(select(t.mentions.c.entity_id).where(t.mentions.c.passage_id.in_(chunk))).scalars()
        )
        conn.execute(t.fact_passages.delete().where(t.fact_passages.c.passage_id.in_(chunk)))
        conn.execute(t.mentions.delete().where(t.mentions.c.passage_id.in_(chunk)))
    dead_facts = sorted(fact_ids - _still_referenced(conn, t.fact_passages.c.fact_id, fact_ids))
    dead_entities = sorted(entity_ids - _still_referenced(conn, t.mentions.c.entity_id, entity_ids))
    for chunk in chunks(dead_facts, CHUNK):
        conn.execute(t.facts.delete().where(t.facts.c.id.in_(chunk)))
    for chunk in chunks(dead_entities, CHUNK):
        conn.execute(t.synonyms.delete().where(t.synonyms.c.entity_a.in_(chunk)))
        conn.execute(t.synonyms.delete().where(t.synonyms.c.entity_b.in_(chunk)))
        conn.execute(t.entities.delete().where(t.entities.c.id.in_(chunk)))
    for chunk in chunks(passage_ids + dead_facts + dead_entities, CHUNK):
        conn.execute(t.vectors.delete().where(t.vectors.c.item_id.in_(chunk)))
    for chunk in chunks(passage_ids, CHUNK):
        conn.execute(t.passages.delete().where(t.passages.c.id.in_(chunk)))


def _still_referenced(conn: Connection, column: Column[str], ids: set[str]) -> set[str]:
    """Those of ``ids`` that some row still holds in ``column``."""
    found: set[str] = set()
    for chunk in chunks(sorted(ids), CHUNK):
        found.update(conn.execute(select(column).where(column.in_(chunk)).distinct()).scalars())
    return found


def delete_namespace(conn: Connection, namespace: str) -> None:
    """Every row of the namespace except its ``graph_versions`` row (versions are never reset)."""
    passage_ids = select(t.passages.c.id).where(t.passages.c.namespace == namespace)
    fact_ids = select(t.facts.c.id).where(t.facts.c.namespace == namespace)
    conn.execute(t.fact_passages.delete().where(t.fact_passages.c.fact_id.in_(fact_ids)))
    conn.execute(t.mentions.delete().where(t.mentions.c.passage_id.in_(passage_ids)))
    conn.execute(t.synonyms.delete().where(t.synonyms.c.namespace == namespace))
    conn.execute(t.facts.delete().where(t.facts.c.namespace == namespace))
    conn.execute(t.entities.delete().where(t.entities.c.namespace == namespace))
    conn.execute(t.passages.delete().where(t.passages.c.namespace == namespace))
    conn.execute(t.vectors.delete().where(t.vectors.c.namespace == namespace))
