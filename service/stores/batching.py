"""Splitting long id and row lists into statements of bounded size, for every graph backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items`` of ``size`` elements (the last may be shorter), in order."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
