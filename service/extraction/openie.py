"""LLM open information extraction: NER, then triples anchored on the recognised entities."""

from __future__ import annotations

from service.domain.models import Extraction, PassageText
from service.errors import ExtractionFailed, LLMError, LLMUnavailable
from service.extraction.base import Extractor, clean_extraction
from service.llm.client import LLMClient
from service.prompts import openie as openie_prompt


class LLMExtractor:
    name = "llm"

    def __init__(self, client: LLMClient) -> None:
        self._client = client

    def extract(self, passage: PassageText) -> Extraction:
        text = passage.content
        try:
            ner = self._client.complete(
                openie_prompt.ner_messages(text),
                prompt_version=openie_prompt.VERSION,
                parse=openie_prompt.parse_ner,
                cache_scope=passage.namespace,
            )
            triples = self._client.complete(
                openie_prompt.triples_messages(text, ner.named_entities),
                prompt_version=openie_prompt.VERSION,
                parse=openie_prompt.parse_triples,
                cache_scope=passage.namespace,
            )
        except LLMUnavailable:
            raise  # an outage, not this passage's fault: the worker retries the job
        except LLMError as exc:
            raise ExtractionFailed(f"LLM extraction failed: {exc.detail}") from exc
        return clean_extraction(ner.named_entities, triples.triples)


class OutageFailsDocument:
    """Wraps an extractor for a job's last attempt: an LLM outage then fails the document it
    hit, with its reason, instead of the whole job, which still ends with what it indexed."""

    def __init__(self, inner: Extractor) -> None:
        self._inner = inner
        self.name = inner.name

    def extract(self, passage: PassageText) -> Extraction:
        try:
            return self._inner.extract(passage)
        except LLMUnavailable as exc:
            raise ExtractionFailed(f"LLM extraction failed: {exc.detail}") from exc
