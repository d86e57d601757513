"""The extractor contract: one passage in, its entities and (s, r, o) facts out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.domain.models import Extraction, PassageText, Triple
from service.domain.normalize import normalize_name


class Extractor(Protocol):
    name: str

    def extract(self, passage: PassageText) -> Extraction:
        """Entities and facts of one passage. Raises ``ExtractionFailed`` with a reason; never
        returns a partial result for a passage it could not process."""


def clean_extraction(entities: Sequence[str], triples: Sequence[Triple | Sequence[str]]) -> Extraction:
    """Drop empty names and degenerate triples, and de-duplicate by normalized identity while
    keeping first-seen order (deterministic graphs from deterministic extractor output)."""
    seen_entities: dict[str, str] = {}
    for name in entities:
        key = normalize_name(name)
        if key and key not in seen_entities:
            seen_entities[key] = name.strip()
    seen_triples: dict[tuple[str, str, str], Triple] = {}
    for triple in triples:
        evidence: str | None = None
        if isinstance(triple, Triple):
            parts: Sequence[str] = (triple.subject, triple.relation, triple.object)
            evidence = triple.evidence
        else:
            # Three strings, or four with the evidence sentence (an imported extraction that
            # kept it); parsers drop other lengths.
            parts = triple[:3]
            evidence = triple[3] if len(triple) > 3 and triple[3] else None
        s, r, o = parts
        identity = (normalize_name(s), normalize_name(r), normalize_name(o))
        if not all(identity) or identity[0] == identity[2] or identity in seen_triples:
            continue
        seen_triples[identity] = Triple(s.strip(), r.strip(), o.strip(), evidence)
    return Extraction(entities=tuple(seen_entities.values()), triples=tuple(seen_triples.values()))
