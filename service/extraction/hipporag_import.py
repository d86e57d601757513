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
from service.domain.normalize import is_blank
from service.domain.records import PassageExtraction
from service.domain.text import unstorable_text
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


def _check_string(value: str, where: str) -> str:
    """Text that can be stored (``unstorable_text``): no lone surrogate, no NUL."""
    problem = unstorable_text(value)
    if problem:
        raise InvalidInput(f"{where} {problem}")
    return value


def _split_passage(entry: dict[str, Any], i: int) -> tuple[str | None, str]:
    title = entry.get("title")
    if title is not None and not isinstance(title, str):
        raise InvalidInput(f"docs[{i}].title must be a string")
    if isinstance(title, str):
        _check_string(title, f"docs[{i}].title")
    text = entry.get("text")
    # Blank as the documents endpoint judges it (domain/normalize.is_blank: whitespace and
    # invisible format characters), so a blank 'text' falls back to 'passage' instead of failing.
    if isinstance(text, str) and not is_blank(text):
        return (title if isinstance(title, str) and title.strip() else None), _check_string(
            text, f"docs[{i}].text"
        )
    passage = entry.get("passage")
    if not isinstance(passage, str) or is_blank(passage):
        raise InvalidInput(f"docs[{i}] needs a non-empty 'text' or 'passage' string")
    _check_string(passage, f"docs[{i}].passage")
    if isinstance(title, str) and passage.startswith(title + "\n"):
        return title, passage[len(title) + 1 :]
    return None, passage


def _list_field(entry: dict[str, Any], field: str, i: int) -> list:
    value = entry.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"docs[{i}].{field} must be a list, not {type(value).__name__}")
    return value


def parse_openie(data: bytes | str | dict) -> OpenIEFile:
    """Validate and read a HippoRAG OpenIE file. Raises ``InvalidInput`` with the reason."""
    if not isinstance(data, dict):
        try:
            data = json.loads(data)
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"OpenIE file is not valid JSON: not UTF-8 (byte {exc.start})") from exc
        except RecursionError as exc:
            raise InvalidInput("OpenIE file is not valid JSON: nested too deeply") from exc
        except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
            raise InvalidInput(f"OpenIE file is not valid JSON: {str(exc)[:200]}") from exc
    docs = data.get("docs") if isinstance(data, dict) else None
    if not isinstance(docs, list) or not docs:
        raise InvalidInput("OpenIE file must be an object with a non-empty 'docs' list")
    passages: list[ImportedPassage] = []
    dropped = 0
    for i, entry in enumerate(docs):
        if not isinstance(entry, dict):
            raise InvalidInput(f"docs[{i}] is not an object")
        title, text = _split_passage(entry, i)
        entities = [
            _check_string(e, f"docs[{i}].extracted_entities[{j}]")
            for j, e in enumerate(_list_field(entry, "extracted_entities", i))
            if isinstance(e, str)
        ]
        triples: list[list[str]] = []
        for j, triple in enumerate(_list_field(entry, "extracted_triples", i)):
            if (
                isinstance(triple, list | tuple)
                and len(triple) == 3
                and all(isinstance(x, str) for x in triple)
            ):
                for k, x in enumerate(triple):
                    _check_string(x, f"docs[{i}].extracted_triples[{j}][{k}]")
                triples.append(list(triple))
            else:
                dropped += 1
        passages.append(ImportedPassage(title, text, entities, triples))
    return OpenIEFile(passages, dropped)


class ImportedExtractor:
    """Serves precomputed extractions by document id and passage index (an OpenIE import, whose
    documents are one passage each, or an export file, which carries each document's passages)."""

    name = "imported"

    def __init__(self, by_document: dict[str, tuple[PassageExtraction, ...]]) -> None:
        self._by_document = by_document

    def extract(self, passage: PassageText) -> Extraction:
        found = self._by_document.get(passage.document_id)
        if found is None or passage.index >= len(found):
            raise ExtractionFailed(
                f"no imported extraction for passage {passage.index} of document {passage.document_id}"
            )
        x = found[passage.index]
        return clean_extraction(x.entities, x.triples)
