"""Document and namespace use cases: submit for ingestion, import HippoRAG OpenIE, delete.

Submission stores the documents and their job in ONE transaction and returns at once; the
worker does the slow part. Identity is content: re-posting identical documents creates nothing
and answers with the ids (and job) they already have.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.exc import IntegrityError

from service.container import Container
from service.domain import ids
from service.domain.normalize import is_blank
from service.errors import Conflict, InvalidInput
from service.extraction.hipporag_import import OpenIEFile
from service.stores.sql.documents import now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewDocument:
    text: str
    id: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Submission:
    job_id: str
    document_ids: list[str]  # one per submitted document, in order (repeated for duplicates)
    created: bool  # False when every document already existed: nothing new was queued


def _validate(c: Container, docs: list[NewDocument], *, bulk: bool) -> None:
    limits = c.settings.limits
    if not docs:
        raise InvalidInput("'documents' must contain at least one document")
    # An OpenIE import is one logical upload however many passages it carries (bounded by bytes).
    if not bulk and len(docs) > limits.max_documents_per_request:
        raise InvalidInput(f"at most {limits.max_documents_per_request} documents per request")
    for i, d in enumerate(docs):
        if not d.text or is_blank(d.text):
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
    # Generated ids are content hashes of the NORMALIZED title and text: two documents that get the
    # same generated id are the same document (they differ only in case, Unicode form or spacing),
    # so only caller-chosen ids can conflict.
    chosen: set[str] = set()
    positions: list[str] = []  # the id of each submitted document, in request order
    for d in docs:
        doc_id = d.id or ids.document_id(namespace, d.title, d.text)
        positions.append(doc_id)
        digest = ids.content_hash(d.title or "", d.text)
        if doc_id in rows:
            if d.id and rows[doc_id]["content_hash"] != digest:
                raise InvalidInput(f"document id {doc_id!r} appears twice with different content")
            continue
        if d.id:
            chosen.add(doc_id)
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
    try:
        submission = _store_submission(c, namespace, rows, order, chosen, extra_payload)
    except IntegrityError:
        # A concurrent request inserted some of these ids (or deleted the namespace) after we
        # looked: look again, now that its transaction is committed.
        submission = _store_submission(c, namespace, rows, order, chosen, extra_payload)
    return replace(submission, document_ids=positions)


def _store_submission(
    c: Container,
    namespace: str,
    rows: dict[str, dict[str, Any]],
    order: list[str],
    chosen: set[str],
    extra_payload: dict[str, Any] | None,
) -> Submission:
    """The documents and their job, in ONE transaction (see ``submit_documents``)."""
    with c.engine.begin() as conn:
        c.documents.get_namespace(namespace, conn, lock=True)  # not while a delete marks it
        existing = c.documents.existing(conn, namespace, order)
        for doc_id, doc in existing.items():
            if doc.status == "deleting":
                raise Conflict(f"document {doc_id!r} is being deleted; post it again once it is gone")
            if doc_id in chosen and doc.content_hash != rows[doc_id]["content_hash"]:
                raise Conflict(
                    f"document {doc_id!r} exists with different content; delete it first to replace it"
                )
        # Metadata is not indexed: a re-post that changes only the metadata updates it in place.
        for doc_id, doc in existing.items():
            if doc.metadata != rows[doc_id]["metadata"]:
                c.documents.update_metadata(conn, namespace, doc_id, rows[doc_id]["metadata"])
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
    """Delete a document and everything only it supports in the graph.

    409 while a job is indexing it. Otherwise it is marked ``deleting`` first (a re-post of it is
    refused, no job picks it up), its graph content is deleted, then its row; if the graph store
    fails on the way, the mark stays and deleting it again finishes the job."""
    with c.engine.begin() as conn:
        doc = c.documents.lock_document(conn, namespace, document_id)
        if doc.status == "pending":
            raise Conflict(
                f"document {document_id!r} is being indexed by job {doc.job_id}; "
                "cancel the job or wait for it"
            )
        c.documents.mark_document_deleting(conn, namespace, document_id)
    c.graph.delete_documents(namespace, [document_id])
    c.documents.delete(namespace, document_id)


def delete_namespace(c: Container, namespace: str) -> None:
    """Delete a namespace with its documents, jobs and graph.

    Queued jobs are cancelled. While one of its jobs is running, the namespace is NOT deleted:
    the job is asked to cancel and ``Conflict`` (409) says to retry once it has stopped — so no
    worker can write into a namespace that is being deleted. Otherwise the namespace is marked
    ``deleting`` (from then on it is invisible and accepts nothing, and its name cannot be
    created again), its graph is deleted, and only then its rows. If the graph store fails on
    the way, the namespace stays marked; deleting it again finishes the job.
    """
    # A job whose worker died (no heartbeat) must not block the delete until some worker
    # process happens to run the reaper.
    c.jobs.reap_stalled(c.settings.worker.stalled_after_s)
    with c.engine.begin() as conn:
        c.documents.lock_for_delete(conn, namespace)
        running = c.jobs.stop_namespace_jobs(conn, namespace)
        if not running:
            c.documents.mark_deleting(conn, namespace)
    if running:
        raise Conflict(
            f"namespace {namespace!r} has a running job ({', '.join(running)}); it was asked to cancel. "
            "Delete the namespace again once the job has stopped."
        )
    c.graph.delete_namespace(namespace)
    c.snapshots.drop(namespace)
    c.lexical.drop(namespace)
    with c.engine.begin() as conn:
        c.documents.delete_namespace_rows(conn, namespace)
