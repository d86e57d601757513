"""The reader: an LLM answer over the top retrieved passages."""

from __future__ import annotations

from service.domain.models import RankedPassage
from service.llm.client import LLMClient
from service.prompts import reader as reader_prompt


def answer(llm: LLMClient, question: str, passages: list[RankedPassage], max_passages: int) -> str:
    texts = [f"{p.title}\n{p.text}" if p.title else p.text for p in passages[:max_passages]]
    return llm.complete(
        reader_prompt.messages(question, texts),
        prompt_version=reader_prompt.VERSION,
        parse=reader_prompt.parse,
    ).answer.strip()
