"""The OpenAI-compatible chat client every LLM call goes through.

Works with any server that speaks the Chat Completions API (OpenAI, vLLM, Ollama, the test
server in ``tests/fakes``). Adds what the raw client lacks for a service: a response cache,
bounded retries with exponential backoff on transport errors and 5xx, a concurrency cap, and
validation hooks so that malformed output is re-asked and never cached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import openai

from service.errors import LLMError, LLMNotConfigured, LLMUnavailable
from service.llm.cache import LLMCache, cache_key
from service.observability.metrics import LLM_REQUESTS, LLM_TOKENS
from service.settings import LLMSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


class LLMClient:
    def __init__(self, settings: LLMSettings, cache: LLMCache | None = None) -> None:
        if not settings.configured:
            raise LLMNotConfigured("no LLM endpoint configured (set HIPPOGRAPH_LLM__BASE_URL)")
        self._settings = settings
        self._cache = cache
        self._client = openai.OpenAI(
            base_url=settings.base_url or None,
            api_key=settings.api_key.get_secret_value() or "unused",
            timeout=settings.timeout_s,
            max_retries=0,  # retries are ours: counted, logged, and combined with validation
        )
        self._slots = threading.BoundedSemaphore(max(1, settings.max_concurrency))
        self.model = settings.model

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _call(self, messages: list[dict], json_mode: bool, prompt: str) -> str:
        kwargs: dict = {"model": self.model, "messages": messages, "temperature": self._settings.temperature}
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        with self._slots:
            response = self._client.chat.completions.create(**kwargs)
        usage = getattr(response, "usage", None)
        if usage is not None:
            LLM_TOKENS.labels(prompt, "prompt").inc(usage.prompt_tokens or 0)
            LLM_TOKENS.labels(prompt, "completion").inc(usage.completion_tokens or 0)
        content = response.choices[0].message.content if response.choices else None
        if content is None:
            raise LLMError("LLM returned no content")
        return content

    def complete(
        self,
        messages: list[dict],
        *,
        prompt_version: str,
        parse: Callable[[str], T],
        json_mode: bool = True,
        cache_scope: str = "",
    ) -> T:
        """Ask, validate with ``parse`` (raises ValueError on bad output), cache, and return.
        ``cache_scope`` (a namespace) keeps cached answers apart: a tenant never gets a cache
        hit on another tenant's passage (one would tell it that passage was indexed).

        Transport errors, timeouts, 5xx and unparseable answers are retried up to
        ``max_retries`` times with exponential backoff; then ``LLMError`` says why:
        ``LLMUnavailable`` when the last attempt found the endpoint unreachable or failing
        (transport error, timeout, 5xx, 408/409/429), so callers can tell an outage from an
        answer that will not get better.
        """
        key = cache_key(self.model, prompt_version, messages, self._settings.temperature, cache_scope)
        if self._cache is not None:
            cached = self._cache.get(key)
            if cached is not None:
                try:
                    value = parse(cached)
                    LLM_REQUESTS.labels(prompt_version, "cached").inc()
                    return value
                except ValueError:
                    logger.warning("ignoring cached LLM response that no longer validates")
        last_error = "unknown error"
        unavailable = False
        for attempt in range(self._settings.max_retries + 1):
            if attempt:
                time.sleep(self._settings.retry_backoff_s * (2 ** (attempt - 1)))
            try:
                raw = self._call(messages, json_mode, prompt_version)
            except openai.APITimeoutError:
                last_error, unavailable = f"LLM request timed out after {self._settings.timeout_s}s", True
            except openai.APIStatusError as exc:
                last_error = f"LLM endpoint answered HTTP {exc.status_code}"
                unavailable = exc.status_code >= 500 or exc.status_code in (408, 409, 429)
                if not unavailable:
                    break  # a 4xx other than throttling will not get better by asking again
            except openai.APIConnectionError as exc:
                last_error, unavailable = f"cannot reach LLM endpoint: {exc.__class__.__name__}", True
            except LLMError as exc:
                last_error, unavailable = exc.detail, False
            else:
                try:
                    value = parse(raw)
                except ValueError as exc:
                    last_error, unavailable = f"malformed LLM output: {str(exc)[:300]}", False
                else:
                    if self._cache is not None:
                        self._cache.put(key, self.model, raw)
                    LLM_REQUESTS.labels(prompt_version, "ok").inc()
                    return value
            LLM_REQUESTS.labels(prompt_version, "unavailable" if unavailable else "error").inc()
            logger.warning("LLM attempt %d failed: %s", attempt + 1, last_error)
        raise (LLMUnavailable if unavailable else LLMError)(last_error)
