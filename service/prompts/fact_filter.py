"""The fact-filter prompt (HippoRAG 2's recognition filter): keep the candidate facts that can
help answer a question.

Contract: ``messages(question, facts)`` numbers the facts from 0 and asks for
``{"keep": [indexes, most useful first]}`` (``FilterResponse``, read by ``parse``). The indexes
are not checked against the number of facts here: the caller drops those out of range. Bump
``VERSION`` whenever the prompt changes: it is part of the LLM cache key.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.prompts.json_answer import parse_json_answer
from service.prompts.untrusted import RULE, fence

VERSION = "fact-filter-v2"  # v2: facts fenced as untrusted text

SYSTEM = (
    "You are given a question and candidate facts numbered from 0. Keep only the facts that "
    "could help answer the question (directly or as one step of a chain). Reply with JSON "
    'only: {"keep": [indexes of useful facts, most useful first]}. ' + RULE
)


def messages(question: str, facts: list[str]) -> list[dict[str, str]]:
    """The chat messages asking which of ``facts`` (numbered ``0:``, ``1:``, ...) to keep."""
    listed = "\n".join(f"{i}: {fence(f, one_line=True)}" for i, f in enumerate(facts))
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Question: {question}\n\nFacts:\n{listed}"},
    ]


class FilterResponse(BaseModel):
    """The filter's answer: indexes of the facts to keep, most useful first."""

    keep: list[int] = Field(default_factory=list)


def parse(raw: str) -> FilterResponse:
    """Validate the filter's raw answer; ``ValueError`` if it is malformed."""
    return parse_json_answer(FilterResponse, raw)
