"""INSERT ... ON CONFLICT for the two supported databases (SQLite and PostgreSQL).

SQLAlchemy's core ``insert`` has no ON CONFLICT clause; each dialect's own ``insert`` does. These
helpers pick it from the connection, so callers never switch on the dialect themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, CursorResult, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection) -> Callable[[Table], Any]:
    """The dialect's INSERT construct, which has ON CONFLICT (SQLite and PostgreSQL only)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return sqlite.insert
    if dialect == "postgresql":
        return postgresql.insert
    raise NotImplementedError(dialect)  # pragma: no cover - only SQLite and PostgreSQL are supported


def insert_ignore(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert the rows; a row whose key (or any unique constraint) is already taken is skipped."""
    if rows:
        conn.execute(_insert(conn)(table).on_conflict_do_nothing(), list(rows))


def upsert(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    *,
    key: Sequence[Column[Any]],
    set_: Mapping[str, Any],
    returning: Sequence[Column[Any]] = (),
) -> CursorResult[Any]:
    """Insert one row, or when ``key`` is taken apply ``set_`` to the existing row; ``returning``
    names the columns the result carries."""
    stmt = (
        _insert(conn)(table).values(**values).on_conflict_do_update(index_elements=list(key), set_=dict(set_))
    )
    if returning:
        stmt = stmt.returning(*returning)
    return conn.execute(stmt)
