"""Our OpenIE prompts (two steps, as in HippoRAG: named entities first, then facts anchored on
them) and the pydantic models that validate the JSON the LLM answers with.

Bump ``PROMPT_VERSION`` whenever a prompt changes: it is part of the LLM cache key.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

PROMPT_VERSION = "openie-v1"

M = TypeVar("M", bound=BaseModel)

NER_SYSTEM = (
    "You read one passage and list the named entities it mentions: people, organizations, "
    "places, works, events, products, dates and numbers that identify something. Copy each "
    "name as written in the passage. Answer with JSON only, in the form "
    '{"named_entities": ["...", "..."]}.'
)

TRIPLES_SYSTEM = (
    "You turn one passage into a small knowledge graph. Write every fact the passage states "
    "as a [subject, relation, object] triple. Subjects and objects should be the given named "
    "entities wherever possible; use full names rather than pronouns; keep relations short "
    "verb phrases. Answer with JSON only, in the form "
    '{"triples": [["subject", "relation", "object"], ...]}.'
)


def ner_messages(passage: str) -> list[dict]:
    return [
        {"role": "system", "content": NER_SYSTEM},
        {"role": "user", "content": f"Passage:\n{passage}"},
    ]


def triples_messages(passage: str, entities: list[str]) -> list[dict]:
    return [
        {"role": "system", "content": TRIPLES_SYSTEM},
        {
            "role": "user",
            "content": f"Passage:\n{passage}\n\nNamed entities: {json.dumps(entities, ensure_ascii=False)}",
        },
    ]


class NerResponse(BaseModel):
    named_entities: list[str] = Field(default_factory=list)


class TriplesResponse(BaseModel):
    triples: list[list[str]] = Field(default_factory=list)

    @field_validator("triples")
    @classmethod
    def _three_strings(cls, value: list[list[str]]) -> list[list[str]]:
        for triple in value:
            if len(triple) != 3:
                raise ValueError(f"a triple must have 3 items, got {len(triple)}: {triple!r}"[:200])
        return value


def _strip_fences(raw: str) -> str:
    text = raw.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text


def _parse(model: type[M], raw: str) -> M:
    """Validate an LLM's JSON answer (code fences tolerated); ``ValueError`` says what is wrong."""
    try:
        return model.model_validate_json(_strip_fences(raw))
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc


def parse_ner(raw: str) -> NerResponse:
    return _parse(NerResponse, raw)


def parse_triples(raw: str) -> TriplesResponse:
    return _parse(TriplesResponse, raw)


READER_PROMPT_VERSION = "reader-v1"

READER_SYSTEM = (
    "Answer the question using only the numbered passages. Questions may need facts from "
    "several passages chained together. Reply with JSON only: "
    '{"answer": "<a short answer: a name, date, number or phrase>", '
    '"reasoning": "<one or two sentences>"}. If the passages do not contain the answer, '
    "give your best short guess and say so in the reasoning."
)


def reader_messages(question: str, passages: list[str]) -> list[dict]:
    numbered = "\n\n".join(f"[{i + 1}] {p}" for i, p in enumerate(passages))
    return [
        {"role": "system", "content": READER_SYSTEM},
        {"role": "user", "content": f"Passages:\n{numbered}\n\nQuestion: {question}"},
    ]


class ReaderResponse(BaseModel):
    answer: str
    reasoning: str = ""


def parse_reader(raw: str) -> ReaderResponse:
    return _parse(ReaderResponse, raw)


FILTER_PROMPT_VERSION = "fact-filter-v1"

FILTER_SYSTEM = (
    "You are given a question and candidate facts numbered from 0. Keep only the facts that "
    "could help answer the question (directly or as one step of a chain). Reply with JSON "
    'only: {"keep": [indexes of useful facts, most useful first]}.'
)


def filter_messages(question: str, facts: list[str]) -> list[dict]:
    listed = "\n".join(f"{i}: {f}" for i, f in enumerate(facts))
    return [
        {"role": "system", "content": FILTER_SYSTEM},
        {"role": "user", "content": f"Question: {question}\n\nFacts:\n{listed}"},
    ]


class FilterResponse(BaseModel):
    keep: list[int] = Field(default_factory=list)


def parse_filter(raw: str) -> FilterResponse:
    return _parse(FilterResponse, raw)
