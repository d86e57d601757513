"""Builds every adapter once from ``Settings`` and hands them out explicitly (no globals)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from service.errors import LLMNotConfigured
from service.extraction.base import Extractor
from service.jobs.queue import JobQueue
from service.llm.cache import LLMCache
from service.llm.client import LLMClient
from service.llm.embedder import Embedder, SentenceTransformerEmbedder
from service.pipeline.ingest import IngestOptions
from service.pipeline.query import QueryResult, RetrievalParams
from service.pipeline.query import query as run_query
from service.retrieval.fact_filter import FactFilter, llm_fact_filter
from service.retrieval.lexical import LexicalIndexCache
from service.retrieval.linking import LinkingParams
from service.retrieval.snapshot import SnapshotCache
from service.settings import Settings
from service.stores.base import GraphStore
from service.stores.factory import make_graph_store
from service.stores.sql.db import make_engine, migrate
from service.stores.sql.documents import DocumentStore

logger = logging.getLogger(__name__)

# Measured with `hippograph eval` on musique-100 without an OpenIE file (docs/benchmarks.md).
OFFLINE_DEFAULT_MODE = "graph"


@dataclass
class Container:
    settings: Settings
    engine: Engine
    embedder_override: Embedder | None = None
    _closed: bool = field(default=False, init=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder: Embedder | None = None) -> Container:
        engine = make_engine(
            settings.database_url,
            busy_timeout_ms=settings.database.sqlite_busy_timeout_ms,
            echo=settings.database.echo,
        )
        return cls(settings=settings, engine=engine, embedder_override=embedder)

    def migrate(self) -> None:
        """Relational schema (Alembic) and the graph backend's constraints/indexes."""
        migrate(self.engine)
        self.graph.ensure_schema(self.embedder.dim)

    @cached_property
    def documents(self) -> DocumentStore:
        return DocumentStore(self.engine)

    @cached_property
    def jobs(self) -> JobQueue:
        w = self.settings.worker
        return JobQueue(self.engine, max_attempts=w.max_attempts, backoff_s=w.retry_backoff_s)

    @cached_property
    def graph(self) -> GraphStore:
        return make_graph_store(self.settings.graph, self.engine)

    @cached_property
    def snapshots(self) -> SnapshotCache:
        return SnapshotCache(self.graph, max_namespaces=self.settings.retrieval.cached_namespaces)

    @cached_property
    def lexical(self) -> LexicalIndexCache:
        """BM25 indexes for the ``bm25`` query mode, built lazily per snapshot version."""
        return LexicalIndexCache(self.graph, max_namespaces=self.settings.retrieval.cached_namespaces)

    @cached_property
    def embedder(self) -> Embedder:
        if self.embedder_override is not None:
            return self.embedder_override
        e = self.settings.embedding
        return SentenceTransformerEmbedder(
            e.model, batch_size=e.batch_size, device=e.device, threads=e.threads
        )

    @cached_property
    def llm(self) -> LLMClient | None:
        if not self.settings.llm.configured:
            return None
        return LLMClient(self.settings.llm, LLMCache(self.engine))

    def require_llm(self) -> LLMClient:
        if self.llm is None:
            raise LLMNotConfigured(
                "this request needs an LLM, and none is configured (set HIPPOGRAPH_LLM__BASE_URL "
                "and HIPPOGRAPH_LLM__MODEL)"
            )
        return self.llm

    @property
    def fact_filter(self) -> FactFilter | None:
        """HippoRAG 2's LLM recognition filter, when switched on and an LLM is configured."""
        if not self.settings.retrieval.llm_fact_filter:
            return None
        if self.llm is None:
            logger.warning("HIPPOGRAPH_RETRIEVAL__LLM_FACT_FILTER is on but no LLM is configured: filter off")
            return None
        return llm_fact_filter(self.llm)

    @property
    def extractor_name(self) -> str:
        choice = self.settings.extraction.extractor
        if choice == "auto":
            return "llm" if self.llm is not None else "offline"
        return choice

    @cached_property
    def extractor(self) -> Extractor:
        if self.extractor_name == "llm":
            from service.extraction.openie import LLMExtractor

            return LLMExtractor(self.require_llm())
        from service.extraction.offline import OfflineExtractor

        return OfflineExtractor()

    @property
    def ingest_options(self) -> IngestOptions:
        x = self.settings.extraction
        return IngestOptions(
            max_passage_words=x.max_passage_words,
            synonym_threshold=x.synonym_threshold,
            synonym_top_k=x.synonym_top_k,
            extraction_workers=self.settings.llm.max_concurrency if self.extractor_name == "llm" else 1,
        )

    @property
    def default_mode(self) -> str:
        """The query mode used when a request names none. ``auto`` picks graph mode for LLM (and
        imported) extractions and, with the offline extractor, the mode that measured better on
        MuSiQue (see docs/benchmarks.md)."""
        mode = self.settings.retrieval.default_mode
        if mode != "auto":
            return mode
        return "graph" if self.extractor_name == "llm" else OFFLINE_DEFAULT_MODE

    @property
    def retrieval_params(self) -> RetrievalParams:
        r = self.settings.retrieval
        return RetrievalParams(
            linking=LinkingParams(
                top_k=r.linking_top_k,
                passage_bonus=r.passage_bonus,
                question_entity_bonus=r.question_entity_bonus,
            ),
            passage_node_weight=r.passage_node_weight,
            passage_seed_power=r.passage_seed_power,
            damping=r.damping,
        )

    def query(self, namespace: str, text: str, *, top_k: int, mode: str) -> QueryResult:
        """``pipeline.query`` wired with this container's adapters and settings: what the API,
        the CLI, the evaluation harness and the benchmarks call."""
        return run_query(
            namespace,
            text,
            top_k=top_k,
            mode=mode,
            store=self.graph,
            snapshots=self.snapshots,  # type: ignore[arg-type]
            embedder=self.embedder,
            params=self.retrieval_params,
            lexical=self.lexical,
            fact_filter=self.fact_filter,
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if "graph" in self.__dict__:
            self.graph.close()
        if self.__dict__.get("llm") is not None:
            self.llm.close()
        self.engine.dispose()
