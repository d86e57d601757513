"""Content-hash identifiers. Same namespace + same normalized content => same id, always.

Ids are ``<kind>-<32 hex>``: a truncated SHA-256 (128 bits) of the namespace and the normalized
content, separated by a unit separator so that no two different tuples can collide by
concatenation.
"""

from __future__ import annotations

import hashlib

from service.domain.normalize import normalize_name, normalize_relation, normalize_text

_SEP = "\x1f"


def _digest(*parts: str) -> str:
    return hashlib.sha256(_SEP.join(parts).encode("utf-8")).hexdigest()[:32]


def document_id(namespace: str, title: str | None, text: str) -> str:
    return "doc-" + _digest(namespace, normalize_text(title or ""), normalize_text(text))


def passage_id(namespace: str, doc_id: str, index: int, text: str) -> str:
    return "passage-" + _digest(namespace, doc_id, str(index), normalize_text(text))


def entity_id(namespace: str, name: str) -> str:
    return "entity-" + _digest(namespace, normalize_name(name))


def fact_id(namespace: str, subject: str, relation: str, obj: str) -> str:
    return "fact-" + _digest(
        namespace, normalize_name(subject), normalize_relation(relation), normalize_name(obj)
    )


def content_hash(*parts: str) -> str:
    """A full SHA-256 of arbitrary parts (cache keys, document content hashes)."""
    return hashlib.sha256(_SEP.join(parts).encode("utf-8")).hexdigest()
