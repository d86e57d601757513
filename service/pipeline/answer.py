"""The reader: an LLM answer over the top retrieved passages."""

from __future__ import annotations

from service.domain.models import RankedPassage
from service.extraction.prompts import READER_PROMPT_VERSION, parse_reader, reader_messages
from service.llm.client import LLMClient


def answer(llm: LLMClient, question: str, passages: list[RankedPassage], max_passages: int) -> str:
    texts = [f"{p.title}\n{p.text}" if p.title else p.text for p in passages[:max_passages]]
    return llm.complete(
        reader_messages(question, texts), prompt_version=READER_PROMPT_VERSION, parse=parse_reader
    ).answer.strip()
