"""The composition root: builds every adapter and use case once from ``Settings`` and hands them
out explicitly (no globals). Only the edges (API, CLI, evaluation harness, tests) import it; the
use cases in ``pipeline/`` and the worker in ``jobs/`` receive the ports they use.

Use cases are frozen dataclasses holding their ports, called like functions:
``container.query(namespace, text, top_k=5)``, ``container.submit_documents(namespace, docs)``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine

from service.auth.authenticate import Authenticator
from service.auth.rate_limit import RateLimiter
from service.errors import LLMNotConfigured
from service.extraction.base import Extractor
from service.jobs.queue import JobQueue
from service.jobs.worker import BackgroundWorker, Worker, start_background_worker
from service.llm.cache import LLMCache
from service.llm.client import LLMClient
from service.llm.embedder import Embedder, default_model_cache, make_ingest_embedder, make_query_embedder
from service.llm.lane import QueryLane
from service.pipeline.answer import answer
from service.pipeline.documents import DeleteDocument, ImportOpenIE, SubmitDocuments
from service.pipeline.ingest import Ingest, IngestOptions
from service.pipeline.namespaces import DeleteNamespace, GetStats
from service.pipeline.query import Query, Reader, RetrievalParams
from service.pipeline.transfer import ExportNamespace, ImportNamespace
from service.retrieval.fact_filter import FactFilter, llm_fact_filter
from service.retrieval.lexical import LexicalIndexCache
from service.retrieval.snapshot import SnapshotCache
from service.settings import Settings
from service.stores.base import GraphStore
from service.stores.factory import make_graph_store
from service.stores.sql.db import make_engine, migrate
from service.stores.sql.documents import DocumentStore
from service.stores.sql.keys import KeyStore
from service.stores.sql.write_lock import NamespaceWriteLock

logger = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    engine: Engine
    embedder_override: Embedder | None = None
    _closed: bool = field(default=False, init=False)
    _embedders: dict[str, Embedder] = field(default_factory=dict, init=False, repr=False)
    _embedders_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _lane: QueryLane | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # Made once, before any thread asks: both embedders must share this very lane.
        self._lane = None if self.embedder_override is not None else QueryLane()

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
    def keys(self) -> KeyStore:
        return KeyStore(self.engine)

    @cached_property
    def authenticator(self) -> Authenticator:
        return Authenticator(self.settings.auth, self.keys)

    @cached_property
    def rate_limit(self) -> RateLimiter:
        return RateLimiter(self.settings.limits.requests_per_minute)

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

    @property
    def embedder(self) -> Embedder:
        """The query embedder (its ``dim`` and ``name`` are the model's)."""
        return self.query_embedder

    @property
    def lane(self) -> QueryLane | None:
        """The lane the two embedders share (None with an injected embedder)."""
        return self._lane

    @property
    def query_embedder(self) -> Embedder:
        """Queries' own model instance: never waits for ingestion (service/llm/lane.py).
        Built on first use: a standalone worker never loads it."""
        return self._embedder("query")

    @property
    def ingest_embedder(self) -> Embedder:
        """Ingestion's model instance: embeds in chunks and lets queries go first. Built on
        first use: an API without a worker never loads it."""
        return self._embedder("ingest")

    def _embedder(self, role: str) -> Embedder:
        if self.embedder_override is not None or self._lane is None:
            return self.embedder_override  # type: ignore[return-value]
        # Request threads may ask at once on first use: one model per role, whatever the
        # Python version (3.12's cached_property no longer locks).
        with self._embedders_lock:
            if role not in self._embedders:
                make = make_query_embedder if role == "query" else make_ingest_embedder
                self._embedders[role] = make(self.settings.embedding, self._model_cache, self._lane)
            return self._embedders[role]

    def loaded_embedders(self) -> set[str]:
        """The roles ("query", "ingest") whose model this process has loaded."""
        return set(self._embedders)

    @property
    def _model_cache(self) -> Path:
        return default_model_cache(self.settings.data_dir)

    @cached_property
    def llm(self) -> LLMClient | None:
        if not self.settings.llm.configured:
            return None
        return LLMClient(self.settings.llm, LLMCache(self.engine))

    def require_llm(self) -> LLMClient:
        if self.llm is None:
            raise LLMNotConfigured.for_request()
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

    # --- use cases --------------------------------------------------------------------------
    # Built on each access (a few small objects): a use case always sees the current settings.

    @property
    def ingest(self) -> Ingest:
        workers = self.settings.llm.max_concurrency if self.extractor_name == "llm" else 1
        return Ingest(
            store=self.graph,
            embedder=self.ingest_embedder,
            extractor=self.extractor,
            options=IngestOptions.from_settings(self.settings.extraction, extraction_workers=workers),
            snapshots=self.snapshots,
            lane=self.lane,
            write_lock=self.graph_write_lock,
        )

    @cached_property
    def graph_write_lock(self) -> NamespaceWriteLock:
        return NamespaceWriteLock(self.engine)

    @property
    def reader(self) -> Reader | None:
        """The reader LLM (answers over the top passages), when an LLM is configured."""
        llm, most = self.llm, self.settings.llm.max_answer_passages
        if llm is None:
            return None
        return lambda question, passages: answer(llm, question, passages, most)

    @property
    def query(self) -> Query:
        r = self.settings.retrieval
        return Query(
            namespaces=self.documents,
            store=self.graph,
            snapshots=self.snapshots,
            lexical=self.lexical,
            embedder=self.query_embedder,
            params=RetrievalParams.from_settings(r),
            default_mode=r.default_mode,
            max_top_k=r.max_top_k,
            fact_filter=self.fact_filter,
            reader=self.reader,
            lane=self.lane,
        )

    @property
    def submit_documents(self) -> SubmitDocuments:
        return SubmitDocuments(self.documents, self.jobs, self.settings.limits)

    @property
    def import_openie(self) -> ImportOpenIE:
        return ImportOpenIE(self.submit_documents, self.settings.limits.max_import_bytes)

    @property
    def export_namespace(self) -> ExportNamespace:
        return ExportNamespace(self.documents)

    @property
    def import_namespace(self) -> ImportNamespace:
        return ImportNamespace(self.documents, self.submit_documents)

    @property
    def delete_document(self) -> DeleteDocument:
        return DeleteDocument(self.documents, self.graph, self.snapshots, self.graph_write_lock)

    @property
    def delete_namespace(self) -> DeleteNamespace:
        return DeleteNamespace(
            self.documents,
            self.jobs,
            self.graph,
            self.snapshots,
            self.lexical,
            self.settings.worker.stalled_after_s,
        )

    @property
    def stats(self) -> GetStats:
        return GetStats(self.documents, self.graph)

    def worker(self, *, worker_id: str | None = None, stop: threading.Event | None = None) -> Worker:
        """A job worker over this container's queue, stores and ingestion use case."""
        return Worker(
            jobs=self.jobs,
            documents=self.documents,
            ingest=self.ingest,
            settings=self.settings.worker,
            worker_id=worker_id,
            stop=stop,
        )

    def start_background_worker(self) -> BackgroundWorker:
        """The in-process worker of ``hippograph serve`` (and of ``hippograph worker``)."""
        stop = threading.Event()
        return start_background_worker(self.worker(stop=stop), stop)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if "graph" in self.__dict__:
            self.graph.close()
        llm = self.__dict__.get("llm")
        if llm is not None:
            llm.close()
        self.engine.dispose()
