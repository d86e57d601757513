"""Text and metadata the stores can hold: the checks every entry point (API, OpenIE import,
export-file import) applies."""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any


def unstorable_text(value: str) -> str | None:
    """Why ``value`` cannot be stored, as the end of a sentence naming the field, or None.

    A lone surrogate (``json.loads`` lets ``"\\ud800"`` through) cannot be encoded as UTF-8, so it
    can be neither stored nor sent back; PostgreSQL text cannot hold a NUL character.
    """
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate code point (not valid Unicode text)"
    if "\x00" in value:
        return "contains a NUL character"
    return None


MAX_METADATA_DEPTH = 32  # the metadata object itself is level 1
MAX_METADATA_BYTES = 64 * 1024  # serialized as compact UTF-8 JSON


def check_text(value: str, what: str) -> str:
    """``value``, or ValueError naming ``what`` when it cannot be stored (``unstorable_text``)."""
    problem = unstorable_text(value)
    if problem:
        raise ValueError(f"{what} {problem}")
    return value


def check_document_id(value: str) -> str:
    """A caller-chosen document id that every route can address, or ValueError saying why not."""
    if not value.strip():
        raise ValueError("id is blank")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("id contains a control character or a lone surrogate")
    if any(segment in (".", "..") for segment in value.split("/")):
        raise ValueError("id cannot have '.' or '..' as a path segment: URLs drop those")
    return value


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """JSON that can be stored and served back: bounded depth and size, valid Unicode, finite numbers."""
    stack: list[tuple[Any, int, str]] = [(metadata, 1, "metadata")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_METADATA_DEPTH:
                raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    check_text(key, f"a key in {where}")
                    stack.append((item, depth + 1, f"{where}[{key[:40]!r}]"))
            else:
                stack.extend((item, depth + 1, f"{where}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, str):
            check_text(value, where)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where} is {value}; JSON numbers must be finite")
    size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
    return metadata
