"""SQL schema (SQLAlchemy Core). Alembic revisions in ``migrations/`` mirror this module.

Relational tables (every deployment): namespaces, documents, document_extractions, jobs,
llm_cache, api_keys.
Graph tables (only used by the SQL graph backend): passages, entities, facts, fact_passages,
mentions, synonyms, vectors, graph_versions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """A timestamp that is always a timezone-aware UTC ``datetime`` in Python.

    SQLite keeps no offset and hands back naive values even for ``timezone=True`` columns;
    PostgreSQL hands back aware values in the session's time zone. Both come back as UTC here,
    so API responses carry an offset on every backend. Naive values are refused on the way in:
    they are ambiguous, and every writer in the service uses ``datetime.now(UTC)``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC timestamps")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


namespaces = Table(
    "namespaces",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # Set when a delete starts; the row goes when its graph is gone (pipeline.delete_namespace).
    Column("deleting", Boolean, nullable=False, server_default=false()),
)

documents = Table(
    "documents",
    metadata,
    Column("namespace", String(64), ForeignKey("namespaces.name", ondelete="CASCADE"), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("title", Text, nullable=True),
    Column("text", Text, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    # pending -> indexed | failed | cancelled; any but pending -> deleting (then the row goes)
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("job_id", String(36), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # UTF-8 bytes the document stores (text, title, metadata JSON, an imported extraction):
    # what the per-namespace byte quota sums (a covering index below)
    Column("stored_bytes", Integer, nullable=False, server_default="0"),
)
Index("ix_documents_namespace_created", documents.c.namespace, documents.c.created_at)
Index("ix_documents_namespace_stored_bytes", documents.c.namespace, documents.c.stored_bytes)

# What the extractor found in an indexed document, passage by passage (the JSON of
# ``records.PassageExtraction``): written with the document's ``indexed`` status, it is what an
# export carries so that a backup or a move to another backend never pays for extraction again
# (the graph itself keeps no evidence sentences). Goes with its document (cascade).
document_extractions = Table(
    "document_extractions",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("document_id", String(200), primary_key=True),
    Column("extractor", String(64), nullable=False),
    Column("passages", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(
        ["namespace", "document_id"], ["documents.namespace", "documents.id"], ondelete="CASCADE"
    ),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("namespace", String(64), ForeignKey("namespaces.name", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    # queued -> running -> succeeded | failed | cancelled
    Column("status", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("errors", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("cancel_requested", Boolean, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("worker_id", String(100), nullable=True),
    Column("run_after", UTCDateTime(), nullable=False),
    Column("heartbeat_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
)
Index("ix_jobs_status_run_after", jobs.c.status, jobs.c.run_after)
Index("ix_jobs_namespace_created", jobs.c.namespace, jobs.c.created_at)

llm_cache = Table(
    "llm_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# API keys (service/auth): only the SHA-256 of a key's secret is stored. A key names the
# namespaces it may use; those are names, not references, so a key may be made for a namespace
# before it exists and keeps working when the namespace is deleted and created again.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("requests_per_minute", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

api_key_namespaces = Table(
    "api_key_namespaces",
    metadata,
    Column("key_id", String(12), ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("namespace", String(64), primary_key=True),
)

# --- SQL graph backend -------------------------------------------------------------------

graph_versions = Table(
    "graph_versions",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)

passages = Table(
    "passages",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("namespace", String(64), nullable=False),
    Column("document_id", String(200), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("title", Text, nullable=True),
    Column("text", Text, nullable=False),
)
Index("ix_passages_namespace_document", passages.c.namespace, passages.c.document_id)

entities = Table(
    "entities",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("namespace", String(64), nullable=False, index=True),
    Column("name", Text, nullable=False),
)

facts = Table(
    "facts",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("namespace", String(64), nullable=False, index=True),
    Column("subject_id", String(48), ForeignKey("entities.id"), nullable=False, index=True),
    Column("relation", Text, nullable=False),
    Column("object_id", String(48), ForeignKey("entities.id"), nullable=False, index=True),
)

# Which passages state a fact: a fact lives while at least one of its passages does.
fact_passages = Table(
    "fact_passages",
    metadata,
    Column("fact_id", String(48), ForeignKey("facts.id"), primary_key=True),
    Column("passage_id", String(48), ForeignKey("passages.id"), primary_key=True, index=True),
)

mentions = Table(
    "mentions",
    metadata,
    Column("passage_id", String(48), ForeignKey("passages.id"), primary_key=True),
    Column("entity_id", String(48), ForeignKey("entities.id"), primary_key=True, index=True),
)

synonyms = Table(
    "synonyms",
    metadata,
    Column("namespace", String(64), nullable=False, index=True),
    Column("entity_a", String(48), ForeignKey("entities.id"), primary_key=True),
    Column("entity_b", String(48), ForeignKey("entities.id"), primary_key=True, index=True),
    Column("score", Float, nullable=False),
)

vectors = Table(
    "vectors",
    metadata,
    Column("item_id", String(48), primary_key=True),
    Column("namespace", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("vector", LargeBinary, nullable=False),
)
Index("ix_vectors_namespace_kind", vectors.c.namespace, vectors.c.kind)
