"""The offline extractor: no model, no network. Lower quality than LLM OpenIE, documented so.

Entities are proper-noun spans (runs of capitalized words, allowing short lowercase connectors
inside a name such as "Bank of America" or "Ludwig van Beethoven") plus the passage title
(without a trailing "(disambiguation)"). Numbers, years, and lone month or weekday names are not
entities: they join unrelated passages. Facts are within-sentence co-occurrences: consecutive
entities, the sentence's first entity with every later one, the title with the entities of the
opening sentence, and the title with the entities of a sentence that opens with a pronoun
("Currently, he is a professor at ..."), related by the words between them. Each fact carries
its sentence as evidence; the pipeline embeds the evidence instead of the terse relation, which
links far better (docs/retrieval.md).
"""

from __future__ import annotations

import re

from service.domain.models import Extraction, PassageText, Triple
from service.extraction.base import clean_extraction

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+(?=[\"“(\[]?[A-Z0-9])|\n+")
_TOKEN = re.compile(r"[^\W_][\w'’\-.&]*[\w]|[^\W_]", re.UNICODE)
_CONNECTORS = frozenset(
    "of the de da del della der den van von la le du and for on in & y al bin ibn".split()
)
# Capitalized words that open sentences or clauses without naming anything.
_STOP_CAPS = frozenset(
    """the a an in on at he she it they we i you his her its their this that these those there
    after before during when while as by for from with of to but and or if since although however
    also following between until some many most other both each all one several what who which
    where why how currently today later early earlier then thus here unlike despite born
    according under over through into upon about around among""".split()
)
_CALENDAR_WORDS = frozenset(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
_NUMBER = re.compile(r"^\d[\d,.]*s?$")
_POSSESSIVE = re.compile(r"['’]s$")
_TRAILING_PARENTHETICAL = re.compile(r"\s*\([^()]*\)\s*$")
_MAX_RELATION_WORDS = 30
_PRONOUNS = frozenset("he she it they his her its their".split())
_PRONOUN_WINDOW = 4  # a pronoun among a sentence's first words makes the title its subject
_MIN_SENTENCE_WORDS = 3  # shorter "sentences" are headings such as "Introduction"


# A piece ending like this was cut after an abbreviation ("the D.H. Chen Professor", "Dr. Smith"),
# not after a sentence: glue it back to the next piece.
_ABBREVIATION_END = re.compile(
    r"(?:\b(?:[A-Z]\.)+|\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Col|Lt|No|Inc|Ltd|Co|vs)\.)$"
)


def _sentences(text: str) -> list[str]:
    pieces = [p.strip() for p in _SENTENCE_SPLIT.split(text) if p.strip()]
    merged: list[str] = []
    for piece in pieces:
        if merged and _ABBREVIATION_END.search(merged[-1]):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def _is_name_word(token: str) -> bool:
    return token[:1].isupper() and token.casefold() not in _STOP_CAPS


def _spans(tokens: list[str]) -> list[tuple[int, int]]:
    """Token index ranges [start, end) of entity mentions in one sentence."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(tokens)
    while i < n:
        if not _is_name_word(tokens[i]):
            i += 1
            continue
        j = i + 1
        while j < n:
            if _is_name_word(tokens[j]):
                j += 1
            elif tokens[j].casefold() in _CONNECTORS and j + 1 < n and _is_name_word(tokens[j + 1]):
                j += 2
            else:
                break
        if not (j == i + 1 and (tokens[i].casefold() in _CALENDAR_WORDS or _NUMBER.match(tokens[i]))):
            spans.append((i, j))
        i = j
    return spans


def _name(tokens: list[str]) -> str:
    return _POSSESSIVE.sub("", " ".join(tokens))


def _relation(words: list[str]) -> str:
    return " ".join(words[:_MAX_RELATION_WORDS]) if words else "related to"


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
        title = (
            _TRAILING_PARENTHETICAL.sub("", (passage.title or "").strip()) or (passage.title or "").strip()
        )
        entities: list[str] = [title] if title else []
        triples: list[Triple] = []
        opening_done = False
        for sentence in _sentences(passage.text):
            tokens = _TOKEN.findall(sentence)
            if len(tokens) < _MIN_SENTENCE_WORDS:
                continue
            spans = _spans(tokens)
            names = [_name(tokens[a:b]) for a, b in spans]
            entities.extend(names)

            if title and not opening_done:
                # The opening sentence of a wiki-style passage defines its title.
                triples.extend(Triple(title, "described as", name, sentence) for name in names)
                opening_done = True
            pronoun = _leading_pronoun(tokens, spans)
            if title and pronoun is not None:
                for (a, _), name in zip(spans, names, strict=True):
                    triples.append(Triple(title, _relation(tokens[pronoun + 1 : a]), name, sentence))
            for k in range(len(spans)):
                for m in range(k + 1, len(spans)):
                    if m == k + 1 or k == 0:
                        words = tokens[spans[k][1] : spans[m][0]]
                        triples.append(Triple(names[k], _relation(words), names[m], sentence))
        return clean_extraction(entities, triples)
