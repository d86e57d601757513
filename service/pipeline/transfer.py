"""Export a namespace to a file and import it again — backups, and moves between backends.

The file (``transfer_format``) holds documents, metadata and each indexed document's recorded
extraction. An import submits the documents through ``SubmitDocuments`` like any other: those
with an extraction are indexed from it, passage by passage (embedded again, never extracted
again: an LLM bill is not paid twice), the others are extracted by this deployment's extractor.
Nothing of the graph is copied: the destination builds its own, on whichever graph backend it
runs, so an embedded SQLite namespace moves to PostgreSQL + Neo4j with the same command.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import IO

from service.domain import ids
from service.domain.records import PassageExtraction
from service.errors import Conflict, InvalidInput, NamespaceNotFound
from service.pipeline.documents import NewDocument, SubmitDocuments, check_room, stored_bytes, validate
from service.pipeline.transfer_format import (
    ExportedDocument,
    Header,
    document_line,
    end_line,
    header_line,
    is_end,
    open_for_reading,
    parse_document,
    parse_header,
    read_lines,
)
from service.stores.sql.documents import DocumentStore, check_namespace_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportSummary:
    namespace: str
    documents: int
    with_extraction: int  # indexed, with the extraction an import reuses
    to_extract: int  # pending, failed, cancelled, or indexed before extractions were recorded


@dataclass(frozen=True)
class ExportNamespace:
    """Write every document of a namespace (but those being deleted) to ``out``, oldest first."""

    documents: DocumentStore

    def __call__(self, namespace: str, out: IO[str]) -> ExportSummary:
        self.documents.get_namespace(namespace)  # NamespaceNotFound before anything is written
        estimate = self.documents.count_documents(namespace)  # the header's count, for progress
        out.write(header_line(namespace, datetime.now(UTC).isoformat(), estimate))
        n = with_extraction = 0
        for doc, extractor, passages in self.documents.export_rows(namespace):
            out.write(document_line(doc, extractor, passages))
            n += 1
            with_extraction += passages is not None
        out.write(end_line(n))  # the authoritative count: a file without it was cut short
        logger.info("exported %d documents of %s (%d with their extraction)", n, namespace, with_extraction)
        return ExportSummary(namespace, n, with_extraction, n - with_extraction)


@dataclass(frozen=True)
class ImportPlan:
    """What a checked file holds, and what it adds to the target namespace."""

    header: Header
    namespace: str
    documents: int
    with_extraction: int
    new_documents: int  # not in the namespace yet (the others are there with the same content)


@dataclass(frozen=True)
class ImportSummary:
    namespace: str
    documents: int
    with_extraction: int
    to_extract: int
    job_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportNamespace:
    """Check a whole export file against the target namespace, then submit its documents in
    jobs of ``job_documents``.

    Nothing is stored unless every line is valid (as the API would take it: texts, ids, sizes),
    the file ends with its end line, no document id is taken in the namespace by other content
    (``Conflict``) and the new documents fit its document and byte quotas (``TooManyRequests``)
    — each error names the line. The namespace is created when missing. Documents already there
    with the same id and content are not indexed again (an import can be repeated). An operator's
    import is not held to the namespace's queued-jobs limit (it queues as many jobs as it needs).

    Ids are kept, so references to them in the caller's app stay valid; an id the source
    generated from content (``ids.document_id``) is generated again for the target namespace,
    so that posting the same content there later finds the imported document."""

    documents: DocumentStore
    submit: SubmitDocuments
    job_documents: int = 500

    def check(self, path: str | Path, namespace: str | None = None) -> ImportPlan:
        header: Header | None = None
        target = namespace or ""
        n = with_extraction = new = new_bytes = 0
        seen: set[str] = set()
        pending: list[tuple[int, ExportedDocument]] = []
        ended = False

        def look_up(batch: list[tuple[int, ExportedDocument]]) -> tuple[int, int]:
            """(new documents, their stored bytes); Conflict for an id taken by other content."""
            found = {d.id: d for d in self.documents.get_many(target, [doc.id for _, doc in batch])}
            count = size = 0
            for line, doc in batch:
                there = found.get(doc.id)
                if there is None:
                    count += 1
                    size += stored_bytes(_new([doc])[0], doc.passages)
                elif there.content_hash != ids.content_hash(doc.title or "", doc.text):
                    raise Conflict(
                        f"line {line}: document {doc.id!r} exists in {target!r} with different content; "
                        "delete it first, or import into another namespace"
                    )
            return count, size

        for line, item in _documents(path):
            if isinstance(item, Header):
                header, target = item, namespace or item.namespace
                check_namespace_name(target)
                continue
            if item is None:
                ended = True
                continue
            assert header is not None  # _documents yields the header first
            doc = _retarget(item, header.namespace, target)
            try:
                validate(self.submit.limits, _new([doc]), bulk=True)
            except InvalidInput as exc:
                raise type(exc)(f"line {line}: {exc.detail.removeprefix('documents[0].')}") from exc
            if doc.id in seen:
                raise InvalidInput(f"line {line}: document id {doc.id!r} appears twice in the file")
            seen.add(doc.id)
            n += 1
            with_extraction += doc.passages is not None
            pending.append((line, doc))
            if len(pending) == 500:
                count, size = look_up(pending)
                new, new_bytes, pending = new + count, new_bytes + size, []
        if header is None:
            raise InvalidInput("the file is empty")
        if not ended:
            raise InvalidInput(f"the file ends after {n} documents without its end line: it was cut short")
        count, size = look_up(pending)
        new, new_bytes = new + count, new_bytes + size
        self._check_quotas(target, new, new_bytes)
        return ImportPlan(header, target, n, with_extraction, new)

    def _check_quotas(self, namespace: str, new: int, new_bytes: int) -> None:
        try:
            docs, size = self.documents.usage_of(namespace)
        except NamespaceNotFound:
            docs, size = 0, 0
        check_room(self.submit.limits, namespace, docs, size, new, new_bytes)

    def __call__(self, path: str | Path, namespace: str | None = None) -> ImportSummary:
        """Import into ``namespace`` (default: the one the file was exported from)."""
        plan = self.check(path, namespace)
        target = plan.namespace
        try:
            self.documents.get_namespace(target)
        except NamespaceNotFound:
            self.documents.create_namespace(target)
        job_ids: list[str] = []
        chunk: list[ExportedDocument] = []
        try:
            for _, item in _documents(path):
                if isinstance(item, ExportedDocument):
                    chunk.append(_retarget(item, plan.header.namespace, target))
                    if len(chunk) == self.job_documents:
                        job_ids += self._submit(target, chunk)
                        chunk = []
            if chunk:
                job_ids += self._submit(target, chunk)
        except Exception:
            # Checked first, so only a concurrent change gets here: say what is already queued.
            logger.error(
                "import into %s stopped; jobs already queued: %s", target, ", ".join(job_ids) or "none"
            )
            raise
        logger.info(
            "import into %s: %d documents (%d new) queued in %d job(s), %d with their extraction",
            target,
            plan.documents,
            plan.new_documents,
            len(job_ids),
            plan.with_extraction,
        )
        return ImportSummary(
            target, plan.documents, plan.with_extraction, plan.documents - plan.with_extraction, job_ids
        )

    def _submit(self, namespace: str, docs: list[ExportedDocument]) -> list[str]:
        """One job for each run of documents with an extraction and each run without (file
        order is kept: documents are created, and indexed, in the order they were)."""
        job_ids = []
        for has_extraction, run in groupby(docs, key=lambda d: d.passages is not None):
            group = list(run)
            imported: dict[str, tuple[PassageExtraction, ...]] | None = (
                {d.id: d.passages for d in group if d.passages is not None} if has_extraction else None
            )
            submitted = self.submit(namespace, _new(group), imported=imported, bulk=True, job_quota=False)
            job_ids.append(submitted.job_id)
        return job_ids


def _retarget(doc: ExportedDocument, source: str, target: str) -> ExportedDocument:
    """The document with the id the target namespace would generate, when the source had
    generated its id from its content."""
    if source != target and doc.id == ids.document_id(source, doc.title, doc.text):
        return replace(doc, id=ids.document_id(target, doc.title, doc.text))
    return doc


def _new(docs: list[ExportedDocument]) -> list[NewDocument]:
    return [NewDocument(text=d.text, id=d.id, title=d.title, metadata=d.metadata) for d in docs]


def _documents(path: str | Path) -> Iterator[tuple[int, Header | ExportedDocument | None]]:
    """(line, item): the header, then each document, then None for the end line; InvalidInput
    on anything else (a second header, a line after the end, a count that does not match)."""
    n_docs = 0
    with open_for_reading(path) as stream:
        lines = read_lines(stream)
        first = next(lines, None)
        if first is None:
            raise InvalidInput("the file is empty")
        yield first[0], parse_header(*first)
        ended = False
        for n, value in lines:
            if ended:
                raise InvalidInput(f"line {n}: found after the end line")
            if is_end(value):
                if value.get("documents") != n_docs:
                    raise InvalidInput(
                        f"line {n}: the end line counts {value.get('documents')!r} documents; "
                        f"the file holds {n_docs}"
                    )
                ended = True
                yield n, None
                continue
            n_docs += 1
            yield n, parse_document(n, value)
