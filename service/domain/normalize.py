"""Text normalization for identity: two strings that normalize equal are the same node.

Unicode-aware on purpose (NFKC + casefold): HippoRAG's ASCII-only normalization drops
non-English names, which would merge unrelated entities or lose them entirely.
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
# Punctuation that only decorates a name ("Paris," / "\"Paris\"" / "(Paris)") is trimmed from
# the ends; inner punctuation ("AC/DC", "O'Brien") is part of the name and kept.
_EDGE_PUNCT = " \t\n\"'`.,;:!?()[]{}<>“”‘’«»"


def normalize_text(text: str) -> str:
    """NFKC, casefold, collapse whitespace, strip. Used for passage identity."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def normalize_name(name: str) -> str:
    """Entity-name identity: ``normalize_text`` plus trimming decorative edge punctuation."""
    return normalize_text(name).strip(_EDGE_PUNCT)


def normalize_relation(relation: str) -> str:
    return normalize_name(relation)


def is_blank(text: str) -> bool:
    """Nothing to read: only whitespace and invisible format characters (zero-width space,
    joiners, byte-order marks...)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)
