"""The offline extractor: no model, no network. Lower quality than LLM OpenIE, documented so.

Entities are proper-noun spans (runs of capitalized words, allowing short lowercase connectors
inside a name such as "Bank of America" or "Ludwig van Beethoven"), years and numbers with a
unit-free form, plus the passage title. Facts are within-sentence co-occurrences: consecutive
entities in a sentence, and the sentence's first entity with every later one, related by the
words between them (trimmed to a short phrase) or "related to" when nothing stands between.
"""

from __future__ import annotations

import re

from service.domain.models import Extraction, PassageText
from service.extraction.base import clean_extraction

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+(?=[\"“(\[]?[A-Z0-9])|\n+")
_TOKEN = re.compile(r"[^\W_][\w'’\-.&]*[\w]|[^\W_]", re.UNICODE)
_CONNECTORS = {
    "of",
    "the",
    "de",
    "da",
    "del",
    "della",
    "der",
    "den",
    "van",
    "von",
    "la",
    "le",
    "du",
    "and",
    "for",
    "on",
    "in",
    "&",
    "y",
    "al",
    "bin",
    "ibn",
}
# Capitalized words that begin sentences without naming anything.
_STOP_CAPS = {
    "the",
    "a",
    "an",
    "in",
    "on",
    "at",
    "he",
    "she",
    "it",
    "they",
    "we",
    "i",
    "you",
    "his",
    "her",
    "its",
    "their",
    "this",
    "that",
    "these",
    "those",
    "there",
    "after",
    "before",
    "during",
    "when",
    "while",
    "as",
    "by",
    "for",
    "from",
    "with",
    "of",
    "to",
    "but",
    "and",
    "or",
    "if",
    "since",
    "although",
    "however",
    "also",
    "following",
    "between",
    "until",
    "some",
    "many",
    "most",
    "other",
    "both",
    "each",
    "all",
    "one",
    "several",
    "what",
    "who",
    "which",
    "where",
    "why",
    "how",
    "currently",
    "today",
    "later",
    "early",
    "earlier",
    "then",
    "thus",
    "here",
    "unlike",
    "despite",
    "born",
    "according",
    "under",
    "over",
    "through",
    "into",
    "upon",
    "about",
    "around",
    "among",
}
_YEAR_OR_NUMBER = re.compile(r"^\d{1,4}(?:s)?$|^\d{1,3}(?:,\d{3})+$")
_MAX_RELATION_WORDS = 6


def _is_capitalized(token: str) -> bool:
    return token[:1].isupper()


def _spans(tokens: list[str]) -> list[tuple[int, int]]:
    """Token index ranges [start, end) of entity mentions in one sentence."""
    spans: list[tuple[int, int]] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if _YEAR_OR_NUMBER.match(tok):
            spans.append((i, i + 1))
            i += 1
            continue
        if not _is_capitalized(tok) or (tok.casefold() in _STOP_CAPS and i == 0):
            i += 1
            continue
        if tok.casefold() in _STOP_CAPS:
            i += 1
            continue
        j = i + 1
        while j < n:
            if _is_capitalized(tokens[j]) and tokens[j].casefold() not in _STOP_CAPS:
                j += 1
            elif (
                tokens[j].casefold() in _CONNECTORS
                and j + 1 < n
                and _is_capitalized(tokens[j + 1])
                and tokens[j + 1].casefold() not in _STOP_CAPS
            ):
                j += 2
            else:
                break
        spans.append((i, j))
        i = j
    return spans


class OfflineExtractor:
    name = "offline"

    def extract(self, passage: PassageText) -> Extraction:
        entities: list[str] = []
        triples: list[tuple[str, str, str]] = []
        title = (passage.title or "").strip()
        if title:
            entities.append(title)
        for sentence_index, sentence in enumerate(
            s for s in _SENTENCE_SPLIT.split(passage.text) if s.strip()
        ):
            tokens = _TOKEN.findall(sentence)
            spans = _spans(tokens)
            names = [" ".join(tokens[a:b]) for a, b in spans]
            entities.extend(names)
            # The title is what a wiki-style passage is about: tie it to the opening sentence.
            if title and sentence_index == 0:
                triples.extend((title, "described as", name) for name in names)
            for k in range(len(spans)):
                for m in range(k + 1, len(spans)):
                    if m != k + 1 and k != 0:
                        continue
                    between = tokens[spans[k][1] : spans[m][0]]
                    relation = " ".join(between[:_MAX_RELATION_WORDS]) if between else "related to"
                    triples.append((names[k], relation, names[m]))
        return clean_extraction(entities, triples)
