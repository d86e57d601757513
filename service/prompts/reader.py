"""The reader prompt: answer a question from numbered passages, as one short answer plus a line
of reasoning.

Contract: ``messages(question, passages)`` numbers the passages from 1 and asks for
``{"answer": "...", "reasoning": "..."}`` (``ReaderResponse``, read by ``parse``; ``answer`` is
required, ``reasoning`` may be missing). Bump ``VERSION`` whenever the prompt changes: it is
part of the LLM cache key.
"""

from __future__ import annotations

from pydantic import BaseModel

from service.prompts.json_answer import parse_json_answer
from service.prompts.untrusted import RULE, fence

VERSION = "reader-v2"  # v2: passages fenced as untrusted text

SYSTEM = (
    "Answer the question using only the numbered passages. Questions may need facts from "
    "several passages chained together. Reply with JSON only: "
    '{"answer": "<a short answer: a name, date, number or phrase>", '
    '"reasoning": "<one or two sentences>"}. If the passages do not contain the answer, '
    "give your best short guess and say so in the reasoning. " + RULE
)


def messages(question: str, passages: list[str]) -> list[dict[str, str]]:
    """The chat messages asking ``question`` over ``passages`` (numbered ``[1]``, ``[2]``, ...)."""
    numbered = "\n\n".join(f"[{i + 1}] {fence(p)}" for i, p in enumerate(passages))
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Passages:\n{numbered}\n\nQuestion: {question}"},
    ]


class ReaderResponse(BaseModel):
    """The reader's answer: a short answer and the reasoning behind it."""

    answer: str
    reasoning: str = ""


def parse(raw: str) -> ReaderResponse:
    """Validate the reader's raw answer; ``ValueError`` if it is malformed."""
    return parse_json_answer(ReaderResponse, raw)
