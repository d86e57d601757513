"""Rows to domain records: one mapper for every table-backed dataclass."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import Row

T = TypeVar("T")


def record(cls: type[T], row: Row[Any], **converted: Any) -> T:
    """``cls`` built from the row's columns of the same names; ``converted`` gives the fields whose
    stored form differs from the record's (JSON into typed values, strings into enums). Columns
    the record does not declare (bookkeeping such as ``worker_id``) are left out."""
    values = row._mapping
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]  # cls is a dataclass
    return cls(**{n: converted[n] if n in converted else values[n] for n in names})
