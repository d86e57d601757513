"""The OpenIE prompts: two steps, as in HippoRAG -- named entities first, then facts anchored on
them -- and the models that validate the JSON the LLM answers with.

Contract: ``ner_messages(passage)`` asks for ``{"named_entities": [...]}`` (``NerResponse``,
read by ``parse_ner``); ``triples_messages(passage, entities)`` asks for
``{"triples": [[subject, relation, object], ...]}`` (``TriplesResponse``, read by
``parse_triples``, which rejects any triple that is not exactly three strings). Both steps share
one ``VERSION``; bump it whenever either prompt changes: it is part of the LLM cache key.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, Field, field_validator

from service.prompts.json_answer import parse_json_answer
from service.prompts.untrusted import RULE, fence

VERSION = "openie-v2"  # v2: passages fenced as untrusted text

NER_SYSTEM = (
    "You read one passage and list the named entities it mentions: people, organizations, "
    "places, works, events, products, dates and numbers that identify something. Copy each "
    "name as written in the passage. Answer with JSON only, in the form "
    '{"named_entities": ["...", "..."]}. ' + RULE
)

TRIPLES_SYSTEM = (
    "You turn one passage into a small knowledge graph. Write every fact the passage states "
    "as a [subject, relation, object] triple. Subjects and objects should be the given named "
    "entities wherever possible; use full names rather than pronouns; keep relations short "
    "verb phrases. Answer with JSON only, in the form "
    '{"triples": [["subject", "relation", "object"], ...]}. ' + RULE
)


def ner_messages(passage: str) -> list[dict[str, str]]:
    """The chat messages of the NER step for one passage."""
    return [
        {"role": "system", "content": NER_SYSTEM},
        {"role": "user", "content": f"Passage:\n{fence(passage)}"},
    ]


def triples_messages(passage: str, entities: list[str]) -> list[dict[str, str]]:
    """The chat messages of the triples step: the passage and the entities the NER step found."""
    return [
        {"role": "system", "content": TRIPLES_SYSTEM},
        {
            "role": "user",
            "content": f"Passage:\n{fence(passage)}\n\n"
            f"Named entities: {json.dumps(entities, ensure_ascii=False)}",
        },
    ]


class NerResponse(BaseModel):
    """The NER step's answer: the entity names as written in the passage."""

    named_entities: list[str] = Field(default_factory=list)


class TriplesResponse(BaseModel):
    """The triples step's answer: ``[subject, relation, object]`` lists of exactly three strings."""

    triples: list[list[str]] = Field(default_factory=list)

    @field_validator("triples")
    @classmethod
    def _three_strings(cls, value: list[list[str]]) -> list[list[str]]:
        for triple in value:
            if len(triple) != 3:
                raise ValueError(f"a triple must have 3 items, got {len(triple)}: {triple!r}"[:200])
        return value


def parse_ner(raw: str) -> NerResponse:
    """Validate the NER step's raw answer; ``ValueError`` if it is malformed."""
    return parse_json_answer(NerResponse, raw)


def parse_triples(raw: str) -> TriplesResponse:
    """Validate the triples step's raw answer; ``ValueError`` if it is malformed."""
    return parse_json_answer(TriplesResponse, raw)
