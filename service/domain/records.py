"""The service's vocabulary: namespaces, documents, jobs, and the states and modes they take.

Declared once here and used by the API schemas, the stores, the job queue, the settings and the
evaluation harness. The enums are ``StrEnum``: their members are the strings stored in the
database and sent over the API, so ``DocumentStatus.PENDING == "pending"``.

Glossary of the text types (docs/design.md has the longer version): a *document* is what a user
posts (a row in ``documents``); a document is split into *passages* (``PassageText`` before
extraction, ``Passage`` in the graph, ``StoredPassage`` read back, ``RankedPassage`` in a query
result).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from service.domain.models import Extraction


class DocumentStatus(StrEnum):
    PENDING = "pending"  # stored; its job has not written it yet
    INDEXED = "indexed"  # in the graph
    FAILED = "failed"  # its job gave up on it (``error`` says why)
    CANCELLED = "cancelled"  # its job was cancelled before writing it
    DELETING = "deleting"  # a delete has started: graph content goes first, then the row


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class QueryMode(StrEnum):
    GRAPH = "graph"  # fact-seeded Personalized PageRank (HippoRAG 2)
    DENSE = "dense"  # embedding similarity alone
    BM25 = "bm25"  # lexical baseline


# What the job queue answers a worker that asks about its job: go on, stop because a cancel was
# asked for, or stop without touching the job because it is no longer this worker's.
Lease = Literal["held", "cancel", "lost"]


@dataclass(frozen=True)
class Namespace:
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Document:
    """A stored document (its row), whatever its status."""

    namespace: str
    id: str
    title: str | None
    text: str
    metadata: dict[str, Any]
    content_hash: str
    status: DocumentStatus
    error: str | None
    job_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PassageExtraction:
    """One passage's extraction as it is kept outside the graph: recorded when its document is
    indexed (``document_extractions``), carried by an import job's payload, and written in an
    export file. One JSON shape for all three (``to_json``/``from_json``).

    ``text`` is the passage as it was indexed; None only for an OpenIE import, whose document is
    its one passage. A triple is (subject, relation, object) or (subject, relation, object,
    evidence sentence) when the extractor kept the sentence (the fact is embedded as it)."""

    entities: tuple[str, ...]
    triples: tuple[tuple[str, ...], ...]
    text: str | None = None

    @classmethod
    def of(cls, text: str, extraction: Extraction) -> PassageExtraction:
        """The record of what an extractor found in the passage ``text``."""
        triples = tuple(
            (t.subject, t.relation, t.object, *((t.evidence,) if t.evidence else ()))
            for t in extraction.triples
        )
        return cls(extraction.entities, triples, text)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"entities": list(self.entities), "triples": [list(t) for t in self.triples]}
        if self.text is not None:
            out["text"] = self.text
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PassageExtraction:
        """Trusting: for JSON this service wrote (job payloads, its own table). Files from
        outside are checked by ``pipeline.transfer_format`` first."""
        return cls(
            tuple(data.get("entities", [])),
            tuple(tuple(t) for t in data.get("triples", [])),
            data.get("text"),
        )


@dataclass(frozen=True)
class IngestPayload:
    """What an ingestion job carries: the documents it indexes, whether they are split into
    passages, and (for an import) each document's precomputed extraction, passage by passage.

    Stored as JSON in the job's row (``to_json``/``from_json``): the keys are written and read
    here only. ``extractions`` maps a document id to its one passage's extraction (an OpenIE
    import; the form of jobs queued before export files existed) or to ``{"passages": [...]}``."""

    document_ids: tuple[str, ...]
    split: bool = True
    imported: dict[str, tuple[PassageExtraction, ...]] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"document_ids": list(self.document_ids), "split": self.split}
        if self.imported is not None:
            out["extractions"] = {
                doc_id: (
                    passages[0].to_json()
                    if len(passages) == 1 and passages[0].text is None
                    else {"passages": [p.to_json() for p in passages]}
                )
                for doc_id, passages in self.imported.items()
            }
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IngestPayload:
        raw = data.get("extractions")
        imported = (
            {
                doc_id: (
                    tuple(PassageExtraction.from_json(p) for p in x["passages"])
                    if "passages" in x
                    else (PassageExtraction.from_json(x),)
                )
                for doc_id, x in raw.items()
            }
            if raw is not None
            else None
        )
        return cls(tuple(data.get("document_ids", [])), bool(data.get("split", True)), imported)


@dataclass(frozen=True)
class DocumentError:
    """Why one document of a job failed."""

    document_id: str
    error: str


@dataclass(frozen=True)
class Job:
    """An ingestion job (its row)."""

    id: str
    namespace: str
    kind: str
    status: JobStatus
    payload: IngestPayload | None  # read only by the worker that claims the job (None otherwise)
    total: int
    done: int
    errors: list[DocumentError]
    attempts: int
    max_attempts: int
    cancel_requested: bool
    last_error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None = field(default=None)
