"""Request and response models of the REST API (``*Request`` / ``*Response``)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from service.auth.principal import Scope
from service.domain.normalize import is_blank
from service.domain.records import DocumentStatus, JobStatus, QueryMode
from service.domain.text import (
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    check_document_id,
    check_metadata,
    check_text,
)
from service.settings import RetrievalSettings

MAX_DOCUMENT_ID_CHARS = 200
MAX_OFFSET = 2**62  # list offsets; larger values overflow the database's 64-bit integers
# stores/sql/documents.py NAMESPACE_PATTERN, as JSON Schema states it (documented, so that a
# client, schemathesis included, knows which names are valid before it is told 422). The
# patterns end in "(?!\n)$" because Python's "$" (which test generators use) also matches before
# a final newline; ECMA's does not, and there the look-ahead changes nothing.
NAMESPACE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(?!\n)$"


def _format_characters() -> str:
    """The Basic Multilingual Plane's format characters (Unicode category Cf: zero-width space,
    joiners, byte-order mark...) as a regular-expression class body of ``\\uXXXX`` ranges."""
    chars = [c for c in range(0x10000) if unicodedata.category(chr(c)) == "Cf"]
    runs: list[list[int]] = []
    for c in chars:
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in runs)


# domain/normalize.py ``is_blank`` as JSON Schema states it: at least one character that is
# neither whitespace nor an invisible format character (astral ones aside). A blank text or
# query is refused with 422; documented so that a client knows before it is told.
NOT_BLANK_PATTERN = f"[^\\s{_format_characters()}]"
# DocumentIn._id as JSON Schema states it: no control character, not blank, no '.' or '..' path
# segment. These patterns are stated in the schema only (``json_schema_extra``): the
# validators enforce the same rules with their own messages, and pydantic's regex engine has
# no look-ahead.
DOCUMENT_ID_PATTERN = (
    r"^(?!\.\.?(?:/|$))(?!.*/\.\.?(?:/|$))"
    r"[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*(?!\n)$"
)


NamespaceName = Annotated[
    str, Field(min_length=1, max_length=64, json_schema_extra={"pattern": NAMESPACE_NAME_PATTERN})
]


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: 3 and 3.0, not true or "3" (which pydantic's lax int would take)."""
    if isinstance(value, bool | str):
        raise ValueError("must be an integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
DEFAULT_MAX_TOP_K = RetrievalSettings().max_top_k


class ErrorResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "namespace_not_found", "detail": "namespace 'demo' does not exist"}]
        }
    )
    code: str = Field(description="Stable machine-readable error code.")
    detail: Any = Field(description="Human-readable explanation (or a list of validation problems).")


class NamespaceCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "demo"}]})
    name: str = Field(
        min_length=1,
        max_length=64,
        json_schema_extra={"pattern": NAMESPACE_NAME_PATTERN},
        description="Letters, digits, '_', '-', '.', starting with a letter or digit.",
    )


class NamespaceResponse(BaseModel):
    name: str
    created_at: datetime


class NamespaceListResponse(BaseModel):
    namespaces: list[NamespaceResponse]


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_DOCUMENT_ID_CHARS,
        json_schema_extra={"pattern": DOCUMENT_ID_PATTERN},
        description="Your id; default: a content hash of title and text. Any text without control "
        "characters, '/' included (percent-encode it in URLs).",
    )
    title: str | None = Field(default=None, max_length=1000)
    text: str = Field(
        min_length=1,
        json_schema_extra={"pattern": NOT_BLANK_PATTERN},
        description="Document text, not blank. Long documents are split into passages.",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Any JSON object, at most {MAX_METADATA_DEPTH} levels deep and "
        f"{MAX_METADATA_BYTES} bytes as JSON; no string in it (key or value) may hold a NUL "
        "character (as in every text field: PostgreSQL cannot store one).",
    )

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return value if value is None else check_document_id(value)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return None if value is None else check_text(value, "title")

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return check_text(value, "text")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_metadata(value)


class DocumentsCreateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "documents": [
                        {
                            "title": "Marie Curie",
                            "text": "Marie Curie was born in Warsaw. She won the Nobel Prize in Physics.",
                        },
                        {"id": "warsaw", "title": "Warsaw", "text": "Warsaw is the capital of Poland."},
                    ]
                }
            ]
        },
    )
    documents: list[DocumentIn] = Field(
        min_length=1, description="At least one; at most limits.max_documents_per_request (1,000)."
    )


class JobAcceptedResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "5a3f0c9e-8d1b-4e0c-9a51-2b7f3c1d4e5f",
                    "document_ids": ["doc-3f1e5b0c2d4a6e8f0a1b2c3d4e5f6a7b", "warsaw"],
                }
            ]
        }
    )
    job_id: str
    document_ids: list[str] = Field(
        description="The id of each submitted document, in request order (copies share one id)."
    )


class DocumentResponse(BaseModel):
    id: str
    namespace: str
    title: str | None
    text: str
    metadata: dict[str, Any]
    status: DocumentStatus
    error: str | None
    job_id: str | None
    created_at: datetime
    updated_at: datetime


class DocumentListResponse(BaseModel):
    documents: list[DocumentResponse]
    total: int
    limit: int
    offset: int


class JobProgress(BaseModel):
    done: int
    total: int
    failed: int


class DocumentError(BaseModel):
    document_id: str
    error: str


class JobResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5a3f0c9e-8d1b-4e0c-9a51-2b7f3c1d4e5f",
                    "namespace": "demo",
                    "kind": "ingest",
                    "status": "succeeded",
                    "progress": {"done": 2, "total": 2, "failed": 0},
                    "errors": [],
                    "attempts": 1,
                    "cancel_requested": False,
                    "last_error": None,
                    "created_at": "2026-11-25T20:00:00Z",
                    "started_at": "2026-11-25T20:00:01Z",
                    "finished_at": "2026-11-25T20:00:03Z",
                }
            ]
        }
    )
    id: str
    namespace: str
    kind: str
    status: JobStatus
    progress: JobProgress
    errors: list[DocumentError]
    attempts: int
    cancel_requested: bool = Field(
        description="A cancel was asked for; a running job stops before its next graph write."
    )
    last_error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobListResponse(BaseModel):
    jobs: list[JobResponse]
    total: int
    limit: int
    offset: int


class QueryRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"query": "Where was the Nobel laureate Marie Curie born?", "top_k": 5, "mode": "graph"}
            ]
        },
    )
    query: str = Field(min_length=1, max_length=4000, json_schema_extra={"pattern": NOT_BLANK_PATTERN})
    top_k: JsonInt = Field(
        default=5,
        ge=1,
        # Enforced by the query (422) against retrieval.max_top_k; the schema states the default.
        json_schema_extra={"maximum": DEFAULT_MAX_TOP_K},
        description=f"1..retrieval.max_top_k ({DEFAULT_MAX_TOP_K} unless configured otherwise).",
    )
    mode: QueryMode | None = Field(
        default=None,
        description="graph: fact-seeded Personalized PageRank; dense: embeddings only; "
        "bm25: lexical baseline. "
        "Default: the service's configured default mode.",
    )
    answer: bool = Field(
        default=False,
        strict=True,
        description="Ask the reader LLM for an answer (422 `llm_not_configured` without one).",
    )

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        if is_blank(value):
            raise ValueError("query is blank")
        return check_text(value, "query")


class PassageHit(BaseModel):
    document_id: str
    passage_id: str
    title: str | None
    text: str
    score: float


class FactHit(BaseModel):
    fact_id: str
    text: str
    score: float


class EntityHit(BaseModel):
    entity_id: str
    name: str
    weight: float


class QueryResponse(BaseModel):
    mode: QueryMode
    passages: list[PassageHit]
    facts: list[FactHit] = Field(description="Facts that seeded the walk (graph mode).")
    entities: list[EntityHit] = Field(description="Entities the walk started from, with their seed weights.")
    fallback: str | None = Field(default=None, description="Why graph mode fell back to dense, if it did.")
    answer: str | None = None
    timings_ms: dict[str, float]


class StatsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"documents": 2, "passages": 2, "entities": 5, "facts": 4, "synonym_edges": 1}]
        }
    )
    documents: int = Field(
        description="Documents stored, whatever their status (pending, indexed, failed, cancelled, deleting)."
    )
    passages: int = Field(description="Passages in the graph (of indexed documents only), and so on below.")
    entities: int
    facts: int
    synonym_edges: int


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


class KeyCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="What the key is for (shown in listings).")
    scope: Scope = Field(
        description="read: look and query; write: also add and delete documents, cancel jobs; "
        "admin: also create and delete its namespaces."
    )
    namespaces: list[NamespaceName] = Field(
        min_length=1,
        max_length=1000,
        description="The namespaces the key may use (they need not exist yet). Every other "
        "namespace answers 404 to it, exactly as if it did not exist.",
    )
    requests_per_minute: JsonInt | None = Field(
        default=None,
        ge=0,
        description="This key's rate limit (0: none); default: the service's.",
    )


class KeyResponse(BaseModel):
    id: str
    name: str
    scope: Scope
    namespaces: list[str]
    requests_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None


class KeyCreatedResponse(KeyResponse):
    key: str = Field(description="The key itself: shown this once and never again (only a hash is stored).")


class KeyListResponse(BaseModel):
    keys: list[KeyResponse]
