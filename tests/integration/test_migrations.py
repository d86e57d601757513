"""Alembic's revisions build exactly the schema the code declares (stores/sql/tables.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.container import Container
from service.domain.records import IngestPayload
from service.stores.sql import tables
from tests.conftest import make_settings


def test_migrations_match_the_declared_schema(tmp_path, database_settings):
    c = Container.from_settings(make_settings(tmp_path, database=database_settings))
    try:
        c.migrate()
        c.migrate()  # idempotent
        with c.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
        assert diff == []
    finally:
        c.close()


TEXT = "Łódź and Warsaw are in Poland."  # 30 characters, 33 UTF-8 bytes


def test_upgrading_a_database_that_holds_data_keeps_it(tmp_path, database_settings):
    """A database at the first revision, holding a namespace, a document and a job, is brought to
    head by ``migrate`` (as ``hippograph serve`` does on start): nothing may be lost on the way
    (a table rebuild on SQLite with foreign keys on would cascade-delete documents and jobs)."""
    from alembic import command
    from sqlalchemy import text

    from service.stores.sql import tables as t
    from service.stores.sql.db import alembic_config

    c = Container.from_settings(make_settings(tmp_path, database=database_settings))
    try:
        cfg = alembic_config(c.engine.url.render_as_string(hide_password=False))
        with c.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        with c.engine.begin() as conn:  # rows as revision 0001 knew them
            conn.execute(
                text("INSERT INTO namespaces (name, created_at) VALUES ('old', :t)"), {"t": "2026-01-01"}
            )
            job_id = c.jobs.enqueue(conn, "old", IngestPayload(("d",)))
            conn.execute(
                t.documents.insert().values(
                    namespace="old",
                    id="d",
                    title=None,
                    text=TEXT,
                    metadata={},
                    content_hash="h",
                    status="pending",
                    error=None,
                    job_id=job_id,
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
            )
        c.migrate()
        with c.engine.connect() as conn:
            counts = {
                table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("namespaces", "documents", "jobs")  # our own table names
            }
        assert counts == {"namespaces": 1, "documents": 1, "jobs": 1}
        assert [n.name for n in c.documents.list_namespaces()] == ["old"]
        assert c.documents.get("old", "d").job_id == job_id and c.jobs.get(job_id).status == "queued"
        with c.engine.connect() as conn:  # 0003 filled in the bytes the namespace quota sums
            stored = conn.execute(text("SELECT stored_bytes FROM documents")).scalar_one()
        assert stored == len(TEXT.encode()) + len(b"{}")  # text, no title, metadata {}
    finally:
        c.close()
