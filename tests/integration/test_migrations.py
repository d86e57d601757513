"""Alembic's revisions build exactly the schema the code declares (stores/sql/tables.py)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.container import Container
from service.stores.sql import tables
from tests.conftest import make_settings


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migrations_match_the_declared_schema(request, tmp_path, backend):
    database = {"url": request.getfixturevalue("pg_url")} if backend == "postgres" else {}
    c = Container.from_settings(make_settings(tmp_path, database=database))
    try:
        c.migrate()
        c.migrate()  # idempotent
        with c.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
        assert diff == []
    finally:
        c.close()
