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
_MAX_RELATION_WORDS = 30
# A sentence that opens with one of these (within its first few words) is about the passage's
# title in encyclopedic text ("Currently, he is a professor at ..."): a cheap coreference.
_PRONOUNS = {"he", "she", "it", "they", "his", "her", "its", "their"}
_PRONOUN_WINDOW = 4
_MIN_SENTENCE_WORDS = 3


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


def _leading_pronoun(tokens: list[str], spans: list[tuple[int, int]]) -> int | None:
    """Index of a pronoun among the sentence's first words, before any entity; else None."""
    first_entity = spans[0][0] if spans else len(tokens)
    for i in range(min(_PRONOUN_WINDOW, first_entity)):
        if tokens[i].casefold() in _PRONOUNS:
            return i
    return None


class OfflineExtractor:
    name = "offline"

    def extract(self, passage: PassageText) -> Extraction:
        entities: list[str] = []
        triples: list[tuple[str, str, str]] = []
        title = (passage.title or "").strip()
        if title:
            entities.append(title)
        opening_done = False
        for sentence in (s for s in _SENTENCE_SPLIT.split(passage.text) if s.strip()):
            tokens = _TOKEN.findall(sentence)
            if len(tokens) < _MIN_SENTENCE_WORDS:  # headings such as "Introduction"
                continue
            spans = _spans(tokens)
            names = [" ".join(tokens[a:b]) for a, b in spans]
            entities.extend(names)
            if title and not opening_done:
                # The opening sentence of a wiki-style passage defines its title.
                triples.extend((title, "described as", name) for name in names)
                opening_done = True
            pronoun = _leading_pronoun(tokens, spans)
            if title and pronoun is not None:
                # The title stands in for the pronoun and relates to every entity of the sentence.
                for (a, _), name in zip(spans, names, strict=True):
                    triples.append((title, _relation(tokens[pronoun + 1 : a]), name))
            for k in range(len(spans)):
                for m in range(k + 1, len(spans)):
                    if m != k + 1 and k != 0:
                        continue
                    triples.append((names[k], _relation(tokens[spans[k][1] : spans[m][0]]), names[m]))
        return clean_extraction(entities, triples)


def _relation(words: list[str]) -> str:
    return " ".join(words[:_MAX_RELATION_WORDS]) if words else "related to"
