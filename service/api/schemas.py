"""Request and response models of the REST API (``*Request`` / ``*Response``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
    name: str = Field(min_length=1, max_length=64, description="Letters, digits, '_', '-', '.'.")


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
        max_length=200,
        description="Your id; default: a content hash of title and text.",
    )
    title: str | None = Field(default=None, max_length=1000)
    text: str = Field(description="Document text. Long documents are split into passages.")
    metadata: dict[str, Any] = Field(default_factory=dict)


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
    documents: list[DocumentIn]


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
    document_ids: list[str]


class DocumentResponse(BaseModel):
    id: str
    namespace: str
    title: str | None
    text: str
    metadata: dict[str, Any]
    status: Literal["pending", "indexed", "failed", "cancelled"]
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
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: JobProgress
    errors: list[DocumentError]
    attempts: int
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
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=5, ge=1, description="1..max_top_k (default 200).")
    mode: Literal["graph", "dense", "bm25"] | None = Field(
        default=None,
        description="graph: fact-seeded Personalized PageRank; dense: embeddings only; "
        "bm25: lexical baseline. "
        "Default: the service's configured default mode.",
    )
    answer: bool = Field(default=False, description="Ask the reader LLM for an answer (503 without an LLM).")


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
    mode: Literal["graph", "dense", "bm25"]
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
    documents: int
    passages: int
    entities: int
    facts: int
    synonym_edges: int


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
