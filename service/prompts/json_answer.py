"""Validate the JSON an LLM answered with against a pydantic model: the one check every prompt
module's parse functions share.

Contract: ``parse_json_answer(model, raw)`` returns a validated ``model`` instance or raises
``ValueError`` (never ``pydantic.ValidationError``) saying what is wrong, which is what
``LLMClient.complete`` expects of a ``parse`` hook. A Markdown code fence around the JSON
(```` ```json ... ``` ````) is tolerated and stripped; nothing else is repaired.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def strip_fences(raw: str) -> str:
    """``raw`` without surrounding whitespace and without a Markdown code fence around it."""
    text = raw.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text


def parse_json_answer(model: type[M], raw: str) -> M:
    """Validate an LLM's JSON answer (code fences tolerated); ``ValueError`` says what is wrong."""
    try:
        return model.model_validate_json(strip_fences(raw))
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc
