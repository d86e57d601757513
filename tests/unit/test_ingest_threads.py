"""How many threads ingestion embeds with."""

from __future__ import annotations

from service.llm.embedder import available_cores, ingest_threads
from service.settings import EmbeddingSettings


def test_ingestion_uses_the_embedder_threads_unless_told_otherwise():
    assert ingest_threads(EmbeddingSettings(threads=4)) == 4
    assert ingest_threads(EmbeddingSettings()) == available_cores()
    assert ingest_threads(EmbeddingSettings(threads=4, ingest_threads=2)) == 2
