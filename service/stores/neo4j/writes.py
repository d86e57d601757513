"""The write path of the Neo4j graph store: the transactions of a write and of the deletes.

``Neo4jGraphStore`` opens the sessions, translates outages and keeps its vector cache in step;
the work here runs inside them. A write or a document delete bumps ``graph_version`` as its
first statement (see the data model in ``graph_store.py``), ``delete_namespace`` once, at the
end; every multi-row statement runs in chunks of ``batch_rows``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import neo4j
import numpy as np

from service.domain.models import GraphWriteBatch
from service.stores.batching import chunks
from service.stores.neo4j import cypher


class DanglingReference(ValueError):
    """A batch's mention, fact or synonym names an entity or passage that does not exist."""


def _vector(v: np.ndarray) -> list[float]:
    return np.asarray(v, dtype=np.float32).ravel().tolist()


def _run_chunked(
    tx: neo4j.ManagedTransaction, query: str, namespace: str, rows: list, batch_rows: int
) -> None:
    for chunk in chunks(rows, batch_rows):
        tx.run(query, {"namespace": namespace, "rows": list(chunk)}).consume()


def write_work(batch: GraphWriteBatch, batch_rows: int) -> Callable[[neo4j.ManagedTransaction], int]:
    """The transaction function that writes one document's batch and returns the new version.
    Its rows are built here, once, however often the driver retries the transaction."""
    ns = batch.namespace
    passages = [
        {
            "id": p.id,
            "document_id": p.document_id,
            "idx": int(p.index),
            "title": p.title,
            "text": p.text,
            "embedding": _vector(p.embedding),
        }
        for p in batch.passages
    ]
    entities = [{"id": e.id, "name": e.name, "embedding": _vector(e.embedding)} for e in batch.entities]
    # The first row of a fact id in the batch names its relation text and vector (the SQL
    # backend's insert-or-ignore keeps the first row too).
    canonical: dict[str, Any] = {}
    for f in batch.facts:
        canonical.setdefault(f.id, f)
    facts = [
        {
            "id": f.id,
            "subject_id": f.subject_id,
            "object_id": f.object_id,
            "passage_id": f.passage_id,
            "relation": canonical[f.id].relation,
            "embedding": _vector(canonical[f.id].embedding),
        }
        for f in batch.facts
    ]
    mentions = [{"passage_id": m.passage_id, "entity_id": m.entity_id} for m in batch.mentions]
    synonyms = [
        {"entity_a": s.entity_a, "entity_b": s.entity_b, "score": float(s.score)} for s in batch.synonyms
    ]
    own_entities = {e.id for e in batch.entities}
    own_passages = {p.id for p in batch.passages}
    other_entities = sorted(
        {m.entity_id for m in batch.mentions}
        | {f.subject_id for f in batch.facts}
        | {f.object_id for f in batch.facts}
        | {s.entity_a for s in batch.synonyms}
        | {s.entity_b for s in batch.synonyms}
    )
    other_entities = [e for e in other_entities if e not in own_entities]
    other_passages = sorted(
        ({m.passage_id for m in batch.mentions} | {f.passage_id for f in batch.facts}) - own_passages
    )

    def work(tx: neo4j.ManagedTransaction) -> int:
        version = tx.run(cypher.BUMP_VERSION, {"namespace": ns}).single(strict=True)["version"]
        _run_chunked(tx, cypher.MERGE_PASSAGES, ns, passages, batch_rows)
        _run_chunked(tx, cypher.MERGE_ENTITIES, ns, entities, batch_rows)
        missing: list[str] = []
        for query, wanted in (
            (cypher.MISSING_ENTITIES, other_entities),
            (cypher.MISSING_PASSAGES, other_passages),
        ):
            for chunk in chunks(wanted, batch_rows):
                missing += [r["id"] for r in tx.run(query, {"namespace": ns, "ids": list(chunk)})]
        if missing:
            raise DanglingReference(
                f"batch for documents {', '.join(batch.document_ids[:3])} refers to ids that are not "
                f"in namespace {ns!r}: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
            )
        _run_chunked(tx, cypher.MERGE_MENTIONS, ns, mentions, batch_rows)
        _run_chunked(tx, cypher.MERGE_FACTS, ns, facts, batch_rows)
        _run_chunked(tx, cypher.MERGE_SYNONYMS, ns, synonyms, batch_rows)
        return int(version)

    return work


def delete_documents_work(
    namespace: str, document_ids: Sequence[str], batch_rows: int
) -> Callable[[neo4j.ManagedTransaction], None]:
    """The transaction function that deletes the documents' passages and what only they support."""
    documents = list(dict.fromkeys(document_ids))

    def work(tx: neo4j.ManagedTransaction) -> None:
        tx.run(cypher.BUMP_VERSION, {"namespace": namespace}).consume()
        passage_ids: list[str] = []
        for chunk in chunks(documents, batch_rows):
            passage_ids += [
                r["id"]
                for r in tx.run(
                    cypher.DOCUMENT_PASSAGES, {"namespace": namespace, "document_ids": list(chunk)}
                )
            ]
        entity_ids: set[str] = set()
        for chunk in chunks(passage_ids, batch_rows):
            params = {"namespace": namespace, "passage_ids": list(chunk)}
            entity_ids.update(r["id"] for r in tx.run(cypher.MENTIONED_ENTITIES, params))
            tx.run(cypher.DELETE_FACT_SUPPORT, params).consume()
            tx.run(cypher.DELETE_PASSAGES, params).consume()
        for chunk in chunks(sorted(entity_ids), batch_rows):
            tx.run(
                cypher.DELETE_UNMENTIONED_ENTITIES, {"namespace": namespace, "entity_ids": list(chunk)}
            ).consume()

    return work


def delete_namespace(session: neo4j.Session, namespace: str, batch_rows: int) -> None:
    """Deletes in transactions of at most ``batch_rows`` elements (a namespace can outgrow one
    transaction's memory), so an interrupted call is simply repeated. The version is bumped
    once, at the end (a snapshot built mid-way carries the old version, so it is rebuilt),
    and the GraphMeta node stays: versions never go back (GraphStore.graph_version)."""

    def bump(tx: neo4j.ManagedTransaction) -> None:
        tx.run(cypher.BUMP_VERSION, {"namespace": namespace}).consume()

    def delete_some(query: str) -> Callable[[neo4j.ManagedTransaction], int]:
        def work(tx: neo4j.ManagedTransaction) -> int:
            record = tx.run(query, {"namespace": namespace, "limit": batch_rows}).single(strict=True)
            return int(record["n"])

        return work

    for query in (
        cypher.DELETE_NAMESPACE_FACTS,
        cypher.DELETE_NAMESPACE_PASSAGES,
        cypher.DELETE_NAMESPACE_ENTITIES,
    ):
        while session.execute_write(delete_some(query)) >= batch_rows:
            pass
    session.execute_write(bump)
