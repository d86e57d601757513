"""The optional LLM recognition filter (HippoRAG 2's fact filter), off by default.

After linking, the LLM sees the question and the candidate facts and keeps the ones that can
help answer it. It costs one LLM call per query, so it is opt-in
(``HIPPOGRAPH_RETRIEVAL__LLM_FACT_FILTER=true``). If the LLM fails, the query is not failed:
the unfiltered facts are used and the response says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from service.errors import LLMError
from service.llm.client import LLMClient
from service.prompts import fact_filter as filter_prompt

logger = logging.getLogger(__name__)

# Given the question and candidate fact texts, the indexes of the facts to keep, or None when
# the filter could not run (use every candidate).
FactFilter = Callable[[str, list[str]], list[int] | None]


def llm_fact_filter(llm: LLMClient) -> FactFilter:
    def keep(question: str, facts: list[str]) -> list[int] | None:
        try:
            answer = llm.complete(
                filter_prompt.messages(question, facts),
                prompt_version=filter_prompt.VERSION,
                parse=filter_prompt.parse,
            )
        except LLMError as exc:
            logger.warning("fact filter unavailable, using unfiltered facts: %s", exc.detail)
            return None
        return sorted({i for i in answer.keep if 0 <= i < len(facts)})

    return keep
