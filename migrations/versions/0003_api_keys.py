"""api_keys for service/auth (id, name, secret hash, scope, rate, revocation), api_key_namespaces,
and documents.stored_bytes (the per-namespace byte quota), filled in for existing rows

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 13:10:00

The ``api_keys`` table of 0001 was a seam no code ever wrote (one namespace per key, bound by
a foreign key). It is replaced; the upgrade refuses to run if it holds a row, rather than drop
data it does not understand.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    # First, before any change: a refusal leaves the database exactly at 0002.
    if bind.execute(sa.text("SELECT COUNT(*) FROM api_keys")).scalar():
        raise RuntimeError("api_keys holds rows written outside Hippograph; migrate them by hand first")
    # Plain ADD COLUMN (never a batch recreate: see 0002), then filled in from text, title and
    # metadata (an imported extraction, kept in its job's payload, is not counted for old rows).
    op.add_column("documents", sa.Column("stored_bytes", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        sa.text(
            "UPDATE documents SET stored_bytes = octet_length(text) + coalesce(octet_length(title), 0)"
            " + octet_length(CAST(metadata AS TEXT))"
        )
        if bind.dialect.name == "postgresql"
        else sa.text(
            "UPDATE documents SET stored_bytes = length(CAST(text AS BLOB))"
            " + coalesce(length(CAST(title AS BLOB)), 0) + length(CAST(metadata AS BLOB))"
        )
    )
    op.create_index(
        op.f("ix_documents_namespace_stored_bytes"), "documents", ["namespace", "stored_bytes"], unique=False
    )
    op.drop_table("api_keys")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "api_key_namespaces",
        sa.Column("key_id", sa.String(length=12), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_namespaces_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_id", "namespace", name=op.f("pk_api_key_namespaces")),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_documents_namespace_stored_bytes"), table_name="documents")
    op.drop_column("documents", "stored_bytes")
    op.drop_table("api_key_namespaces")
    op.drop_table("api_keys")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace"],
            ["namespaces.name"],
            name=op.f("fk_api_keys_namespace_namespaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
