"""Engine creation and migrations for the relational store.

SQLite (the embedded default) runs in WAL mode with a busy timeout so the API threads and the
in-process worker can write without "database is locked" errors; foreign keys are switched on
per connection because SQLite leaves them off by default.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event

logger = logging.getLogger(__name__)

# The top-level migrations/ folder of the source tree: the service is installed editable
# (README, Dockerfile), so the Alembic scripts are always next to the package.
MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"

# Execution option marking a connection that only reads (see ``reader``).
READ_ONLY = "hippograph_read_only"


def reader(engine: Engine) -> Connection:
    """A connection for reads only (``with reader(engine) as conn: ...``).

    On SQLite its transaction opens with a plain, deferred ``BEGIN``: a WAL snapshot that never
    takes or waits for the write lock, so reads proceed while a writer holds it. Writers use
    ``engine.begin()``, which opens with ``BEGIN IMMEDIATE``. Elsewhere this is ``engine.connect()``.
    """
    return engine.connect().execution_options(**{READ_ONLY: True})


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by every test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN, which lets two writers both read
        # then deadlock on upgrade; we issue BEGIN IMMEDIATE ourselves so a writer takes the
        # write lock up front and waits (busy_timeout) instead of failing.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_conn, _record) -> None:  # pragma: no cover
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn) -> None:  # pragma: no cover
            conn.exec_driver_sql(
                "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
            )

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision (idempotent)."""
    from alembic import command

    if not (MIGRATIONS_DIR / "env.py").exists():
        raise RuntimeError(
            f"Alembic scripts not found at {MIGRATIONS_DIR}: install the service from its source tree "
            "with `pip install -e .`"
        )
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        # Alembic rebuilds SQLite tables ("batch" mode) by copying and dropping them; with foreign
        # keys on, dropping a parent table would cascade into its children's rows. The pragma
        # only changes outside a transaction, so it is set on the raw connection first, and the
        # keys are checked before the migration commits.
        raw = conn.connection.driver_connection
        if sqlite and raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("migration left rows that violate foreign keys; rolled back")
        finally:
            if sqlite and raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
    logger.info("database schema at head (%s)", engine.url.render_as_string(hide_password=True))


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at the latest Alembic revision (read-only commands check this
    rather than migrate: a schema change belongs to ``hippograph migrate``)."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(hide_password=False)))
    with reader(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current == head.get_current_head()
