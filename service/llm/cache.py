"""Response cache for LLM calls, in the relational store.

Keyed by a hash of (model, prompt version, messages, temperature, and the namespace for
extraction): the same request never costs
twice, and re-indexing after a crash is free for everything already extracted. Only responses
that passed validation are stored, so a malformed answer is asked again, not replayed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from service.domain.ids import content_hash
from service.stores.sql import tables as t
from service.stores.sql.db import reader
from service.stores.sql.dialect import upsert


def cache_key(
    model: str, prompt_version: str, messages: list[dict], temperature: float, scope: str = ""
) -> str:
    """``scope`` (a namespace; empty for none) is part of the key: see ``LLMClient.complete``."""
    parts = (model, prompt_version, json.dumps(messages, sort_keys=True), repr(temperature))
    return content_hash(*parts, scope) if scope else content_hash(*parts)


class LLMCache:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, key: str) -> str | None:
        with reader(self._engine) as conn:
            return conn.execute(select(t.llm_cache.c.response).where(t.llm_cache.c.key == key)).scalar()

    def put(self, key: str, model: str, response: str) -> None:
        """Store a validated response; it replaces whatever the key held (a cached answer that no
        longer validates was asked again, and its fresh answer must not be asked a third time)."""
        stamp = datetime.now(UTC)
        with self._engine.begin() as conn:
            upsert(
                conn,
                t.llm_cache,
                {"key": key, "model": model, "response": response, "created_at": stamp},
                key=[t.llm_cache.c.key],
                set_={"model": model, "response": response, "created_at": stamp},
            )
