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
class ImportedOpenIE:
    """A passage's extraction taken from an imported OpenIE file instead of an extractor."""

    entities: tuple[str, ...]
    triples: tuple[tuple[str, ...], ...]  # as in the file; malformed ones were dropped on import


@dataclass(frozen=True)
class IngestPayload:
    """What an ingestion job carries: the documents it indexes, whether they are split into
    passages, and (for an OpenIE import) each document's precomputed extraction.

    Stored as JSON in the job's row (``to_json``/``from_json``): the keys are written and read
    here only."""

    document_ids: tuple[str, ...]
    split: bool = True
    imported: dict[str, ImportedOpenIE] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"document_ids": list(self.document_ids), "split": self.split}
        if self.imported is not None:
            out["extractions"] = {
                doc_id: {"entities": list(x.entities), "triples": [list(t) for t in x.triples]}
                for doc_id, x in self.imported.items()
            }
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IngestPayload:
        raw = data.get("extractions")
        imported = (
            {
                doc_id: ImportedOpenIE(
                    tuple(x.get("entities", [])), tuple(tuple(t) for t in x.get("triples", []))
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
    payload: IngestPayload
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
