"""Import of precomputed OpenIE in HippoRAG's file format — the migration path for HippoRAG users.

The file is ``{"docs": [{"title", "text"?, "passage", "extracted_entities": [...],
"extracted_triples": [[s, r, o], ...]}, ...]}`` (HippoRAG 1 writes ``passage`` as
``title\\ntext``; HippoRAG 2 writes ``chunk_id``/``passage`` plus the same lists). Each entry is
one passage: imported documents are never re-split, so passage identity matches the file.
Malformed triples (not three strings) are dropped and counted, never guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.domain.models import Extraction, PassageText
from service.errors import ExtractionFailed, InvalidInput
from service.extraction.base import clean_extraction


@dataclass(frozen=True)
class ImportedPassage:
    title: str | None
    text: str
    entities: list[str]
    triples: list[list[str]]


@dataclass(frozen=True)
class OpenIEFile:
    passages: list[ImportedPassage]
    dropped_triples: int


def _split_passage(entry: dict[str, Any]) -> tuple[str | None, str]:
    title = entry.get("title")
    text = entry.get("text")
    if isinstance(text, str) and text.strip():
        return (title if isinstance(title, str) and title.strip() else None), text
    passage = entry.get("passage")
    if not isinstance(passage, str) or not passage.strip():
        raise InvalidInput("each docs[] entry needs a non-empty 'text' or 'passage'")
    if isinstance(title, str) and passage.startswith(title + "\n"):
        return title, passage[len(title) + 1 :]
    return None, passage


def parse_openie(data: bytes | str | dict) -> OpenIEFile:
    """Validate and read a HippoRAG OpenIE file. Raises ``InvalidInput`` with the reason."""
    if not isinstance(data, dict):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"OpenIE file is not valid JSON: {exc}") from exc
    docs = data.get("docs") if isinstance(data, dict) else None
    if not isinstance(docs, list) or not docs:
        raise InvalidInput("OpenIE file must be an object with a non-empty 'docs' list")
    passages: list[ImportedPassage] = []
    dropped = 0
    for i, entry in enumerate(docs):
        if not isinstance(entry, dict):
            raise InvalidInput(f"docs[{i}] is not an object")
        title, text = _split_passage(entry)
        entities = [e for e in entry.get("extracted_entities") or [] if isinstance(e, str)]
        triples: list[list[str]] = []
        for triple in entry.get("extracted_triples") or []:
            if (
                isinstance(triple, list | tuple)
                and len(triple) == 3
                and all(isinstance(x, str) for x in triple)
            ):
                triples.append(list(triple))
            else:
                dropped += 1
        passages.append(ImportedPassage(title, text, entities, triples))
    return OpenIEFile(passages, dropped)


class ImportedExtractor:
    """Serves precomputed extractions by document id (imported documents are one passage each)."""

    name = "imported"

    def __init__(self, by_document: dict[str, dict[str, list]]) -> None:
        self._by_document = by_document

    def extract(self, passage: PassageText) -> Extraction:
        found = self._by_document.get(passage.document_id)
        if found is None:
            raise ExtractionFailed(f"no imported OpenIE for document {passage.document_id}")
        return clean_extraction(found.get("entities", []), [tuple(t) for t in found.get("triples", [])])
