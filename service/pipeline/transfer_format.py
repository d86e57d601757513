"""The export file: a namespace's documents, metadata and extractions as JSON Lines.

    {"format": "hippograph-export", "version": 1, "namespace": ..., "exported_at": ..., "documents": N}
    {"id": ..., "title": ..., "text": ..., "metadata": {...}, "status": ..., "created_at": ...,
     "extractor": ..., "passages": [{"text": ..., "entities": [...], "triples": [[s, r, o(, evidence)]]}]}
    ...
    {"end": "hippograph-export", "documents": N}

``passages`` (with ``extractor``) is present for a document that was indexed with its extraction
recorded: an import indexes those passages exactly as they were, with no extractor. A document
without it (pending, failed, or indexed before extractions were recorded) is extracted again on
import. The last line makes a truncated file (a full disk, an interrupted copy) an error instead
of a silently partial restore. A name ending in ``.gz`` is written gzip-compressed; gzip input is
recognised by its magic bytes whatever its name.

Files from elsewhere are untrusted: ``parse_document`` checks every field and says which line
is wrong (``InvalidInput``).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from service.domain.normalize import is_blank
from service.domain.records import Document, PassageExtraction
from service.domain.text import check_document_id, check_metadata, unstorable_text
from service.errors import InvalidInput

FORMAT = "hippograph-export"
VERSION = 1


@dataclass(frozen=True)
class ExportedDocument:
    """One document line: what an import submits."""

    id: str
    title: str | None
    text: str
    metadata: dict[str, Any]
    status: str
    extractor: str | None
    passages: tuple[PassageExtraction, ...] | None


def header_line(namespace: str, exported_at: str, documents: int) -> str:
    head = {"format": FORMAT, "version": VERSION, "namespace": namespace}
    return _line({**head, "exported_at": exported_at, "documents": documents})


def end_line(documents: int) -> str:
    return _line({"end": FORMAT, "documents": documents})


def document_line(
    doc: Document, extractor: str | None, passages: tuple[PassageExtraction, ...] | None
) -> str:
    out: dict[str, Any] = {
        "id": doc.id,
        "title": doc.title,
        "text": doc.text,
        "metadata": doc.metadata,
        "status": str(doc.status),
        "created_at": doc.created_at.isoformat(),
    }
    if passages is not None:
        out["extractor"] = extractor
        out["passages"] = [p.to_json() for p in passages]
    return _line(out)


def _line(value: dict[str, Any]) -> str:
    # ensure_ascii=False: text stays readable (and smaller); lone surrogates never get here
    # (stored text is checked by unstorable_text on the way in).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


@contextmanager
def open_for_writing(path: str) -> Iterator[IO[str]]:
    """``-``: standard output; ``*.gz``: gzip; else plain text; UTF-8 always. A file is written
    to ``<path>.partial``, synced to disk, and renamed when complete: a file named ``path`` is
    never a half-written export, and an older one there is kept until the new one is whole."""
    if path == "-":
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        try:
            yield out
        finally:
            out.flush()
            out.detach()  # standard output stays open
        return
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as file:
        try:
            raw: Any = gzip.GzipFile(target.stem, "wb", fileobj=file) if target.suffix == ".gz" else file
            out = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            yield out
            out.flush()
            out.detach()
            if raw is not file:
                raw.close()  # the gzip trailer; the file stays open
            file.flush()
            os.fsync(file.fileno())
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    partial.replace(target)


@contextmanager
def open_for_reading(path: str | Path) -> Iterator[IO[str]]:
    """Plain or gzip-compressed (by magic bytes), UTF-8. InvalidInput when it cannot be opened."""
    try:
        with open(path, "rb") as probe:
            compressed = probe.read(2) == b"\x1f\x8b"
        raw: Any = gzip.open(path, "rb") if compressed else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    with io.TextIOWrapper(raw, encoding="utf-8") as text:
        yield text


@dataclass(frozen=True)
class Header:
    namespace: str
    documents: int


# One line is one document with its passages and extraction: far above any document the limits
# let in, and a bound on what one line may take in memory (a file with no newline at all).
MAX_LINE_CHARS = 64 * 1024 * 1024


def read_lines(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line; InvalidInput for one that is not a JSON
    object, is longer than ``MAX_LINE_CHARS``, is not UTF-8, or is damaged gzip."""
    n = 0
    try:
        while line := stream.readline(MAX_LINE_CHARS + 1):
            n += 1
            if len(line) > MAX_LINE_CHARS:
                raise InvalidInput(f"line {n}: longer than {MAX_LINE_CHARS} characters")
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise InvalidInput(f"line {n}: not valid JSON ({str(exc)[:120]})") from exc
            if not isinstance(value, dict):
                raise InvalidInput(f"line {n}: expected a JSON object")
            yield n, value
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InvalidInput(f"after line {n}: unreadable ({exc.__class__.__name__}: {exc})") from exc


def parse_header(n: int, value: dict[str, Any]) -> Header:
    if value.get("format") != FORMAT:
        raise InvalidInput(f"line {n}: not a Hippograph export (its first line has no format {FORMAT!r})")
    if value.get("version") != VERSION:
        raise InvalidInput(f"line {n}: export version {value.get('version')!r}; this version reads {VERSION}")
    namespace, documents = value.get("namespace"), value.get("documents")
    if not isinstance(namespace, str) or not isinstance(documents, int):
        raise InvalidInput(f"line {n}: the header needs 'namespace' (string) and 'documents' (integer)")
    return Header(namespace, documents)


def is_end(value: dict[str, Any]) -> bool:
    return value.get("end") == FORMAT


def _text(value: Any, where: str, *, optional: bool = False, blank_ok: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not blank_ok and not value.strip()):
        raise InvalidInput(f"{where} must be a {'' if blank_ok else 'non-empty '}string")
    problem = unstorable_text(value)
    if problem:
        raise InvalidInput(f"{where} {problem}")
    return value


def _passage(value: Any, where: str) -> PassageExtraction:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be an object")
    text = _text(value.get("text"), f"{where}.text")
    entities = value.get("entities", [])
    triples = value.get("triples", [])
    if not isinstance(entities, list) or not isinstance(triples, list):
        raise InvalidInput(f"{where}: 'entities' and 'triples' must be lists")
    names = tuple(_text(e, f"{where}.entities[{i}]", blank_ok=True) or "" for i, e in enumerate(entities))
    facts: list[tuple[str, ...]] = []
    for i, triple in enumerate(triples):
        if not isinstance(triple, list) or len(triple) not in (3, 4):
            raise InvalidInput(f"{where}.triples[{i}] must be [subject, relation, object(, evidence)]")
        facts.append(
            tuple(_text(x, f"{where}.triples[{i}][{k}]", blank_ok=True) or "" for k, x in enumerate(triple))
        )
    return PassageExtraction(names, tuple(facts), text)


def parse_document(n: int, value: dict[str, Any]) -> ExportedDocument:
    """One document line, checked field by field: what the API would accept, and passages that
    are the document's own text (their words, in order, are the text's words)."""
    where = f"line {n}"
    doc_id = _text(value.get("id"), f"{where}: 'id'") or ""
    if len(doc_id) > 200:
        raise InvalidInput(f"{where}: 'id' is longer than 200 characters")
    try:
        check_document_id(doc_id)
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}") from exc
    text = _text(value.get("text"), f"{where}: 'text'") or ""
    if is_blank(text):
        raise InvalidInput(f"{where}: 'text' is blank")
    metadata = value.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{where}: 'metadata' must be an object")
    try:
        check_metadata(metadata)
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}") from exc
    raw_passages = value.get("passages")
    passages: tuple[PassageExtraction, ...] | None = None
    if raw_passages is not None:
        if not isinstance(raw_passages, list) or not raw_passages:
            raise InvalidInput(f"{where}: 'passages' must be a non-empty list")
        passages = tuple(_passage(p, f"{where}: passages[{i}]") for i, p in enumerate(raw_passages))
        # Indexed passages are the text cut at sentence boundaries and re-joined by single
        # spaces (pipeline/chunking.py): a file whose passages say anything else is refused.
        if [w for p in passages for w in (p.text or "").split()] != text.split():
            raise InvalidInput(f"{where}: its passages are not the document's text")
    extractor = value.get("extractor")
    return ExportedDocument(
        id=doc_id,
        title=_text(value.get("title"), f"{where}: 'title'", optional=True, blank_ok=True),
        text=text,
        metadata=metadata,
        status=str(value.get("status", "")),
        extractor=extractor if isinstance(extractor, str) else None,
        passages=passages,
    )
