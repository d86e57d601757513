"""Document use cases: submit for ingestion, import HippoRAG OpenIE, delete a document.

Submission stores the documents and their job in ONE transaction and returns at once; the
worker does the slow part. Identity is content: re-posting identical documents creates nothing
and answers with the ids (and job) they already have.
"""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.exc import IntegrityError

from service.domain import ids
from service.domain.normalize import is_blank
from service.domain.records import DocumentStatus, IngestPayload, PassageExtraction
from service.errors import Conflict, InvalidInput, PayloadTooLarge, TooManyRequests
from service.extraction.hipporag_import import parse_openie
from service.jobs.queue import JobQueue
from service.pipeline.ingest import WriteLock
from service.pipeline.rebuilds import rebuild_after_write
from service.retrieval.snapshot import SnapshotCache
from service.settings import LimitsSettings
from service.stores.base import GraphStore
from service.stores.sql.documents import DocumentStore, now

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


def validate(limits: LimitsSettings, docs: list[NewDocument], *, bulk: bool) -> None:
    """The checks every submission passes (``InvalidInput``/``PayloadTooLarge``, naming
    ``documents[i]``): not empty, texts not blank and within the size limit, ids 1-200 chars."""
    if not docs:
        raise InvalidInput("'documents' must contain at least one document")
    # An OpenIE import is one logical upload however many passages it carries (bounded by bytes).
    if not bulk and len(docs) > limits.max_documents_per_request:
        raise InvalidInput(f"at most {limits.max_documents_per_request} documents per request")
    for i, d in enumerate(docs):
        if not d.text or is_blank(d.text):
            raise InvalidInput(f"documents[{i}].text is empty")
        if limits.max_document_chars and len(d.text) > limits.max_document_chars:
            raise PayloadTooLarge(
                f"documents[{i}].text has {len(d.text)} characters; the limit is {limits.max_document_chars} "
                "(HIPPOGRAPH_LIMITS__MAX_DOCUMENT_CHARS)"
            )
        if d.id is not None and not (0 < len(d.id) <= 200):
            raise InvalidInput(f"documents[{i}].id must be 1-200 characters")


def stored_bytes(d: NewDocument, extraction: tuple[PassageExtraction, ...] | None) -> int:
    """UTF-8 bytes a document stores: text, title, metadata JSON and an imported extraction
    (kept in its job's payload until indexed, then in the graph)."""
    size = len(d.text.encode("utf-8")) + len((d.title or "").encode("utf-8"))
    size += len(json.dumps(d.metadata, ensure_ascii=False).encode("utf-8"))
    for passage in extraction or ():
        size += len((passage.text or "").encode("utf-8"))
        size += sum(len(e.encode("utf-8")) for e in passage.entities)
        size += sum(len(x.encode("utf-8")) for triple in passage.triples for x in triple)
    return size


@dataclass(frozen=True)
class SubmitDocuments:
    """Store documents and queue their ingestion job, in one transaction."""

    documents: DocumentStore
    jobs: JobQueue
    limits: LimitsSettings

    def __call__(
        self,
        namespace: str,
        docs: list[NewDocument],
        *,
        imported: dict[str, tuple[PassageExtraction, ...]] | None = None,
        bulk: bool = False,
        job_quota: bool = True,
    ) -> Submission:
        """``imported`` (an OpenIE or export-file import) gives each document's extraction by
        document id, passage by passage: no extractor runs on them. ``bulk`` lifts the
        per-request document count (an import is bounded by its size in bytes instead).
        ``job_quota=False`` (an operator's import from the command line, queued in many jobs)
        lifts the namespace's limit on queued jobs; its document and byte quotas still hold."""
        validate(self.limits, docs, bulk=bulk)
        rows: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        # Generated ids are content hashes of the NORMALIZED title and text: two documents that
        # get the same generated id are the same document (they differ only in case, Unicode
        # form or spacing), so only caller-chosen ids can conflict.
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
                "stored_bytes": stored_bytes(d, imported.get(doc_id) if imported else None),
                "status": DocumentStatus.PENDING,
                "error": None,
                "created_at": stamp,
                "updated_at": stamp,
            }
        try:
            submission = self._store(namespace, rows, order, chosen, imported, job_quota)
        except IntegrityError:
            # A concurrent request inserted some of these ids (or deleted the namespace) after
            # we looked: look again, now that its transaction is committed.
            submission = self._store(namespace, rows, order, chosen, imported, job_quota)
        return replace(submission, document_ids=positions)

    def _store(
        self,
        namespace: str,
        rows: dict[str, dict[str, Any]],
        order: list[str],
        chosen: set[str],
        imported: dict[str, tuple[PassageExtraction, ...]] | None,
        job_quota: bool = True,
    ) -> Submission:
        """The documents and their job, in ONE transaction (see ``__call__``)."""
        store = self.documents
        with store.transaction() as conn:
            # Not while a delete marks it; with quotas on, one submission to it at a time, so
            # that concurrent ones cannot all pass the same quota check.
            store.get_namespace(namespace, conn, lock=True, exclusive=self._quotas_on)
            existing = store.existing(conn, namespace, order)
            for doc_id, doc in existing.items():
                if doc.status == DocumentStatus.DELETING:
                    raise Conflict(f"document {doc_id!r} is being deleted; post it again once it is gone")
                if doc_id in chosen and doc.content_hash != rows[doc_id]["content_hash"]:
                    raise Conflict(
                        f"document {doc_id!r} exists with different content; delete it first to replace it"
                    )
            # Metadata is not indexed: a re-post that changes only the metadata updates it in place.
            for doc_id, doc in existing.items():
                if doc.metadata != rows[doc_id]["metadata"]:
                    store.update_metadata(conn, namespace, doc_id, rows[doc_id]["metadata"])
            fresh = [i for i in order if i not in existing]
            retry = [
                i
                for i in order
                if i in existing and existing[i].status in (DocumentStatus.FAILED, DocumentStatus.CANCELLED)
            ]
            if not fresh and not retry:
                job_id = next((existing[i].job_id for i in order if existing[i].job_id), None)
                if job_id is not None:
                    return Submission(job_id=job_id, document_ids=order)
            todo = fresh + retry
            self._check_quotas(conn, namespace, [rows[i] for i in fresh], job_quota=job_quota)
            payload = IngestPayload(
                tuple(todo),
                split=imported is None,
                imported={i: imported[i] for i in todo if i in imported} if imported is not None else None,
            )
            job_id = self.jobs.enqueue(conn, namespace, payload)
            store.insert(conn, [{**rows[i], "job_id": job_id} for i in fresh])
            store.reset_for_retry(conn, namespace, retry, job_id)
        logger.info("job %s queued: %d new and %d retried documents", job_id, len(fresh), len(retry))
        return Submission(job_id=job_id, document_ids=order)

    @property
    def _quotas_on(self) -> bool:
        limits = self.limits
        return bool(
            limits.max_documents_per_namespace
            or limits.max_bytes_per_namespace
            or limits.max_queued_jobs_per_namespace
        )

    def _check_quotas(
        self, conn: Any, namespace: str, new_rows: list[dict[str, Any]], *, job_quota: bool = True
    ) -> None:
        """Raises ``TooManyRequests`` when the submission would take the namespace past its
        documents, bytes or active jobs (limits of 0 are off). Read in the submission's
        transaction, one submission per namespace at a time (``_store``)."""
        limits = self.limits
        if not self._quotas_on:
            return
        docs, size, active = self.documents.usage(conn, namespace)
        if (
            job_quota
            and limits.max_queued_jobs_per_namespace
            and active >= limits.max_queued_jobs_per_namespace
        ):
            raise TooManyRequests(
                f"namespace {namespace!r} has {active} jobs queued or running (the limit is "
                f"{limits.max_queued_jobs_per_namespace}); retry when some have finished",
                retry_after_s=30,
                code="too_many_jobs",
            )
        check_room(limits, namespace, docs, size, len(new_rows), sum(r["stored_bytes"] for r in new_rows))


def check_room(
    limits: LimitsSettings, namespace: str, docs: int, size: int, adding_docs: int, adding_bytes: int
) -> None:
    """Raises ``TooManyRequests`` when ``adding_docs`` documents of ``adding_bytes`` would take a
    namespace holding ``docs`` documents of ``size`` bytes past its quotas (0: no limit)."""
    if limits.max_documents_per_namespace and docs + adding_docs > limits.max_documents_per_namespace:
        raise TooManyRequests(
            f"namespace {namespace!r} holds {docs} documents; {adding_docs} more would pass its "
            f"limit of {limits.max_documents_per_namespace} (delete documents first)",
            code="namespace_full",
        )
    if limits.max_bytes_per_namespace and size + adding_bytes > limits.max_bytes_per_namespace:
        raise TooManyRequests(
            f"namespace {namespace!r} holds {size} bytes of text; {adding_bytes} more would pass its "
            f"limit of {limits.max_bytes_per_namespace} (delete documents first)",
            code="namespace_full",
        )


@dataclass(frozen=True)
class ImportOpenIE:
    """Queue a HippoRAG OpenIE file: one document per passage, extractions taken from the file.

    Checks the file's size (``PayloadTooLarge``), the namespace, and the file itself
    (``InvalidInput``) before anything is stored."""

    submit: SubmitDocuments
    max_bytes: int

    def check_size(self, size: int) -> None:
        """Refuse an import of ``size`` bytes over the limit (the API asks with the declared
        Content-Length before it reads the body)."""
        if size > self.max_bytes:
            raise PayloadTooLarge(
                f"import is larger than the {self.max_bytes}-byte limit (HIPPOGRAPH_LIMITS__MAX_IMPORT_BYTES)"
            )

    def __call__(self, namespace: str, raw: bytes) -> ImportResult:
        self.check_size(len(raw))
        self.submit.documents.get_namespace(namespace)
        openie = parse_openie(raw)
        docs = [
            NewDocument(text=p.text, title=p.title, metadata={"source": "openie-import"})
            for p in openie.passages
        ]
        imported: dict[str, tuple[PassageExtraction, ...]] = {
            ids.document_id(namespace, p.title, p.text): (
                PassageExtraction(tuple(p.entities), tuple(tuple(t) for t in p.triples)),
            )
            for p in openie.passages
        }
        submission = self.submit(namespace, docs, imported=imported, bulk=True)
        return ImportResult(submission, openie.dropped_triples, [(p.title, p.text) for p in openie.passages])


@dataclass(frozen=True)
class ImportResult:
    submission: Submission
    dropped_triples: int  # malformed triples in the file (not three strings), never guessed at
    passages: list[tuple[str | None, str]]  # (title, text) of each passage of the file, in order


@dataclass(frozen=True)
class DeleteDocument:
    """Delete a document and everything only it supports in the graph.

    The delete always wins, even over a document still waiting for (or in the hands of) a
    worker: it is marked ``deleting`` first (a re-post of it is refused, no worker starts on it,
    and a worker that already extracted it skips it at its write, ``jobs/run.py``), its graph
    content is deleted under the namespace's write lock, then its row. If the
    graph store fails on the way, the mark stays and deleting it again finishes the job."""

    documents: DocumentStore
    graph: GraphStore
    snapshots: SnapshotCache
    # The namespace's graph-write lock (stores/sql/write_lock.py): the graph step runs either
    # before a worker's write of the document (which then finds the mark and skips it) or after
    # it (and deletes what it wrote).
    write_lock: WriteLock | None = None

    def __call__(self, namespace: str, document_id: str) -> None:
        with self.documents.transaction() as conn:
            self.documents.lock_document(conn, namespace, document_id)
            self.documents.mark_document_deleting(conn, namespace, document_id)
        with self.write_lock(namespace) if self.write_lock is not None else nullcontext():
            self.graph.delete_documents(namespace, [document_id])
        self.documents.delete(namespace, document_id)
        # No query after this one ranks what it deleted; concurrent deletes share rebuilds.
        rebuild_after_write(self.snapshots, namespace)
