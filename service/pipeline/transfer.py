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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from service.domain.records import PassageExtraction
from service.errors import InvalidInput, NamespaceNotFound
from service.pipeline.documents import NewDocument, SubmitDocuments
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
from service.stores.sql.documents import DocumentStore

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
    """What a checked file holds."""

    header: Header
    documents: int
    with_extraction: int


@dataclass(frozen=True)
class ImportSummary:
    namespace: str
    documents: int
    with_extraction: int
    to_extract: int
    job_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportNamespace:
    """Check a whole export file, then submit its documents in jobs of ``job_documents``.

    Nothing is stored unless every line of the file is valid and it ends with its end line
    (``InvalidInput`` names the line). The namespace is created when missing; documents already
    there with the same id and content are not indexed again (an import can be repeated), one
    with the same id and other content is refused (``Conflict``)."""

    documents: DocumentStore
    submit: SubmitDocuments
    job_documents: int = 500

    def check(self, path: str | Path) -> ImportPlan:
        n = with_extraction = 0
        seen: set[str] = set()
        header: Header | None = None
        ended = False
        for doc in _documents(path):
            if isinstance(doc, Header):
                header = doc
                continue
            if doc is None:
                ended = True
                continue
            if doc.id in seen:
                raise InvalidInput(f"document id {doc.id!r} appears twice in the file")
            seen.add(doc.id)
            n += 1
            with_extraction += doc.passages is not None
        if header is None:
            raise InvalidInput("the file is empty")
        if not ended:
            raise InvalidInput(f"the file ends after {n} documents without its end line: it was cut short")
        return ImportPlan(header, n, with_extraction)

    def __call__(self, path: str | Path, namespace: str | None = None) -> ImportSummary:
        """Import into ``namespace`` (default: the one the file was exported from)."""
        plan = self.check(path)
        target = namespace or plan.header.namespace
        try:
            self.documents.get_namespace(target)
        except NamespaceNotFound:
            self.documents.create_namespace(target)
        job_ids: list[str] = []
        chunk: list[ExportedDocument] = []
        for doc in _documents(path):
            if isinstance(doc, ExportedDocument):
                chunk.append(doc)
                if len(chunk) == self.job_documents:
                    job_ids += self._submit(target, chunk)
                    chunk = []
        if chunk:
            job_ids += self._submit(target, chunk)
        logger.info(
            "import into %s: %d documents queued in %d job(s), %d with their extraction",
            target,
            plan.documents,
            len(job_ids),
            plan.with_extraction,
        )
        return ImportSummary(
            target, plan.documents, plan.with_extraction, plan.documents - plan.with_extraction, job_ids
        )

    def _submit(self, namespace: str, docs: list[ExportedDocument]) -> list[str]:
        """One job for the documents with an extraction, one for those to extract; their ids
        (ids are kept as exported, so references to them in the caller's app stay valid)."""
        extracted = [d for d in docs if d.passages is not None]
        fresh = [d for d in docs if d.passages is None]
        job_ids = []
        if extracted:
            imported: dict[str, tuple[PassageExtraction, ...]] = {
                d.id: d.passages for d in extracted if d.passages is not None
            }
            job_ids.append(self.submit(namespace, _new(extracted), imported=imported, bulk=True).job_id)
        if fresh:
            job_ids.append(self.submit(namespace, _new(fresh), bulk=True).job_id)
        return job_ids


def _new(docs: list[ExportedDocument]) -> list[NewDocument]:
    return [NewDocument(text=d.text, id=d.id, title=d.title, metadata=d.metadata) for d in docs]


def _documents(path: str | Path) -> Iterator[Header | ExportedDocument | None]:
    """The header, then each document, then None for the end line; InvalidInput on anything
    else (a second header, a line after the end, a count that does not match)."""
    n_docs = 0
    with open_for_reading(path) as stream:
        lines = read_lines(stream)
        first = next(lines, None)
        if first is None:
            raise InvalidInput("the file is empty")
        yield parse_header(*first)
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
                yield None
                continue
            n_docs += 1
            yield parse_document(n, value)
