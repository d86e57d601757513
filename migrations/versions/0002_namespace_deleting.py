"""namespaces.deleting: a namespace whose delete has started

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 23:55:00

Plain ALTER TABLE on purpose, never a batch "recreate": on SQLite, recreating ``namespaces``
drops the old table, and with foreign keys on (they are, per connection) that cascades into
every document and job.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "namespaces", sa.Column("deleting", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("namespaces", "deleting")  # SQLite >= 3.35 drops a column in place
