"""document_extractions: each indexed document's extraction, passage by passage, for export

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 19:20:00

A new table only: nothing existing changes. Documents indexed before it have no row; an export
says so and their import extracts them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_extractions",
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=200), nullable=False),
        sa.Column("extractor", sa.String(length=64), nullable=False),
        sa.Column("passages", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace", "document_id"],
            ["documents.namespace", "documents.id"],
            name=op.f("fk_document_extractions_namespace_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace", "document_id", name=op.f("pk_document_extractions")),
    )


def downgrade() -> None:
    op.drop_table("document_extractions")
