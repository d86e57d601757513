"""Splitting documents into passages.

A document of at most ``max_words`` words is one passage. A longer one is cut at sentence
boundaries into passages of at most ``max_words`` words (a single sentence longer than that is
cut by words). Passages do not overlap: the graph links them through shared entities instead.
"""

from __future__ import annotations

import re

from service.domain.models import PassageText

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n{2,}")


def _word_count(text: str) -> int:
    return len(text.split())


def split_document(document_id: str, title: str | None, text: str, max_words: int) -> list[PassageText]:
    text = text.strip()
    if _word_count(text) <= max_words:
        return [PassageText(document_id, 0, title, text)]
    pieces: list[str] = []
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        if not sentence:
            continue
        words = sentence.split()
        while len(words) > max_words:
            pieces.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if words:
            pieces.append(" ".join(words))
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        n = _word_count(piece)
        if current and size + n > max_words:
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(piece)
        size += n
    if current:
        chunks.append(" ".join(current))
    return [PassageText(document_id, i, title, chunk) for i, chunk in enumerate(chunks)]
