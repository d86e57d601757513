"""Document use cases: submit for ingestion, import HippoRAG OpenIE, delete.

Submission stores the documents and their job in ONE transaction and returns at once; the
worker does the slow part. Identity is content: re-posting identical documents creates nothing
and answers with the ids (and job) they already have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.container import Container
from service.domain import ids
from service.errors import Conflict, InvalidInput
from service.extraction.hipporag_import import OpenIEFile
from service.stores.sql.documents import now


@dataclass(frozen=True)
class NewDocument:
    text: str
    id: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Submission:
    job_id: str
    document_ids: list[str]
    created: bool  # False when every document already existed: nothing new was queued


def _validate(c: Container, docs: list[NewDocument], *, bulk: bool) -> None:
    limits = c.settings.limits
    if not docs:
        raise InvalidInput("'documents' must contain at least one document")
    # An OpenIE import is one logical upload however many passages it carries (bounded by bytes).
    if not bulk and len(docs) > limits.max_documents_per_request:
        raise InvalidInput(f"at most {limits.max_documents_per_request} documents per request")
    for i, d in enumerate(docs):
        if not d.text or not d.text.strip():
            raise InvalidInput(f"documents[{i}].text is empty")
        if len(d.text) > limits.max_document_chars:
            raise InvalidInput(
                f"documents[{i}].text has {len(d.text)} characters; the limit is {limits.max_document_chars} "
                "(HIPPOGRAPH_LIMITS__MAX_DOCUMENT_CHARS)"
            )
        if d.id is not None and not (0 < len(d.id) <= 200):
            raise InvalidInput(f"documents[{i}].id must be 1-200 characters")


def submit_documents(
    c: Container,
    namespace: str,
    docs: list[NewDocument],
    *,
    extra_payload: dict[str, Any] | None = None,
    bulk: bool = False,
) -> Submission:
    _validate(c, docs, bulk=bulk)
    rows: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for d in docs:
        doc_id = d.id or ids.document_id(namespace, d.title, d.text)
        digest = ids.content_hash(d.title or "", d.text)
        if doc_id in rows:
            if rows[doc_id]["content_hash"] != digest:
                raise InvalidInput(f"document id {doc_id!r} appears twice with different content")
            continue
        order.append(doc_id)
        stamp = now()
        rows[doc_id] = {
            "namespace": namespace,
            "id": doc_id,
            "title": d.title,
            "text": d.text,
            "metadata": d.metadata,
            "content_hash": digest,
            "status": "pending",
            "error": None,
            "created_at": stamp,
            "updated_at": stamp,
        }
    with c.engine.begin() as conn:
        c.documents.get_namespace(namespace, conn)
        existing = c.documents.existing(conn, namespace, order)
        for doc_id, doc in existing.items():
            if doc.content_hash != rows[doc_id]["content_hash"]:
                raise Conflict(
                    f"document {doc_id!r} exists with different content; delete it first to replace it"
                )
        fresh = [i for i in order if i not in existing]
        retry = [i for i in order if i in existing and existing[i].status in ("failed", "cancelled")]
        if not fresh and not retry:
            job_id = next((existing[i].job_id for i in order if existing[i].job_id), None)
            if job_id is not None:
                return Submission(job_id=job_id, document_ids=order, created=False)
        todo = fresh + retry
        payload = {"document_ids": todo, **(extra_payload or {})}
        job_id = c.jobs.enqueue(conn, namespace, "ingest", payload, total=len(todo))
        c.documents.insert(conn, [{**rows[i], "job_id": job_id} for i in fresh])
        c.documents.reset_for_retry(conn, namespace, retry, job_id)
    return Submission(job_id=job_id, document_ids=order, created=True)


def submit_openie_import(c: Container, namespace: str, openie: OpenIEFile) -> Submission:
    """Queue a HippoRAG OpenIE file: one document per passage, extractions taken from the file."""
    docs = [
        NewDocument(text=p.text, title=p.title, metadata={"source": "openie-import"}) for p in openie.passages
    ]
    extractions = {
        ids.document_id(namespace, p.title, p.text): {"entities": p.entities, "triples": p.triples}
        for p in openie.passages
    }
    return submit_documents(
        c, namespace, docs, extra_payload={"split": False, "extractions": extractions}, bulk=True
    )


def delete_document(c: Container, namespace: str, document_id: str) -> None:
    doc = c.documents.get(namespace, document_id)
    if doc.status == "pending":
        raise Conflict(
            f"document {document_id!r} is being indexed by job {doc.job_id}; cancel the job or wait for it"
        )
    c.graph.delete_documents(namespace, [document_id])
    c.documents.delete(namespace, document_id)


def delete_namespace(c: Container, namespace: str) -> None:
    c.documents.get_namespace(namespace)
    c.graph.delete_namespace(namespace)
    c.documents.delete_namespace(namespace)
    c.snapshots.drop(namespace)
