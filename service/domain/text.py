"""Text the stores can hold: the one check every entry point (API, OpenIE import) applies."""

from __future__ import annotations


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
