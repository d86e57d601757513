"""One settings tree, read from the environment (prefix ``HIPPOGRAPH_``, nested delimiter ``__``).

This is the only module that reads the environment. Everything else receives a ``Settings``
(or one of its sections) explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.domain.records import QueryMode


class DatabaseSettings(BaseModel):
    """The relational store. ``url`` empty means SQLite at ``<data_dir>/hippograph.db``."""

    url: str = ""
    sqlite_busy_timeout_ms: int = 30_000
    echo: bool = False


class GraphSettings(BaseModel):
    """Which graph store backend holds passages, entities, facts and their vectors."""

    backend: Literal["sql", "neo4j"] = "sql"
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr("")
    neo4j_database: str = "neo4j"
    # Rows per UNWIND statement; keeps transaction memory bounded on a small heap.
    neo4j_batch_rows: int = 2_000
    # A search whose vectors are not in memory loads a namespace's vectors of that kind (then
    # follows this process's writes) when it holds at most this many; above, it asks Neo4j's
    # vector index (one round trip per query vector). 200k entity vectors are ~300 MB.
    neo4j_load_vectors_below: int = 200_000


class LLMSettings(BaseModel):
    """An OpenAI-compatible endpoint (OpenAI, vLLM, Ollama...). No base_url and no key: no LLM."""

    base_url: str = ""
    api_key: SecretStr = SecretStr("")
    model: str = "gpt-4o-mini"
    timeout_s: float = 60.0
    max_retries: int = 2
    retry_backoff_s: float = 0.5
    max_concurrency: int = 4
    temperature: float = 0.0
    max_answer_passages: int = 5

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key.get_secret_value())


class EmbeddingSettings(BaseModel):
    """Sentence-transformers model; empty ``model`` means the bundled all-MiniLM-L6-v2."""

    model: str = ""
    # torch: sentence-transformers on PyTorch. onnx / onnx-int8: ONNX Runtime over the same
    # weights, exported locally on first use (int8: dynamically quantized). docs/benchmarks.md.
    backend: Literal["torch", "onnx", "onnx-int8"] = "onnx"
    batch_size: int = 64
    device: str = "cpu"
    # Intra-op threads of each embedder; 0 = the cores this process may use. Fewer is better
    # when other processes keep the cores busy (docs/benchmarks.md, "Embedder threads").
    threads: int = 0
    # The ingestion embedder's threads; unset: ``threads``. Leaving a core to queries
    # (``threads`` - 1 inside ``hippograph serve``) was measured: the import took 40% longer and
    # the query tail during it did not improve (docs/benchmarks.md, part f).
    ingest_threads: int | None = None
    # Where exported ONNX models are kept; empty = ``~/.cache/hippograph/models`` (or
    # ``<data_dir>/models`` where that cannot be written).
    cache_dir: str = ""
    # Ingestion embeds in chunks of this many texts and lets a query embedding go first
    # between chunks (service/llm/lane.py).
    ingest_chunk: int = 32
    # ONNX backends: give the model's working memory back after each batch instead of keeping
    # its peak (~0.4 GB less RSS once long passages were embedded, ~10% slower embedding;
    # docs/benchmarks.md, "Memory under load").
    release_memory: bool = False


class ExtractionSettings(BaseModel):
    """How passages become entities and facts."""

    # auto: the LLM when one is configured, otherwise the offline extractor.
    extractor: Literal["auto", "llm", "offline"] = "auto"
    max_passage_words: int = 400
    synonym_threshold: float = 0.8
    synonym_top_k: int = 100


class RetrievalSettings(BaseModel):
    """Query-time parameters. Defaults are set once for every dataset; see docs/retrieval.md."""

    # The mode of a query that names none. Graph mode measured best with every extractor,
    # the offline one included (docs/benchmarks.md).
    default_mode: QueryMode = QueryMode.GRAPH
    linking_top_k: int = 3
    # Fact score = cos(query, fact) + passage_bonus * best dense score of the fact's passages
    #            + question_entity_bonus if the fact names an entity the question names.
    passage_bonus: float = 0.5
    question_entity_bonus: float = 0.15
    # Passage seeds = passage_node_weight * minmax(dense) ** passage_seed_power.
    passage_node_weight: float = 0.05
    passage_seed_power: float = 8.0
    damping: float = 0.5
    # The exact walk's power iteration stops when an iteration moves the scores by less than
    # this (L1; the scores sum to 1, so no score is off by more). The top 10 passages of every
    # MuSiQue-100 question are the same, in the same order, at 1e-5, 1e-6, 1e-7 and 1e-12;
    # 1e-6 keeps a tenfold margin and takes ~20 iterations instead of ~33 (docs/benchmarks.md).
    ppr_tolerance: float = 1e-6
    max_top_k: int = 200
    llm_fact_filter: bool = False
    # In-memory snapshots (and BM25 indexes) kept at once; the least recently queried namespace
    # is dropped first and rebuilt on its next query.
    cached_namespaces: int = 16
    # The walk at scale (docs/retrieval.md): a namespace with more passages than this answers
    # graph and dense queries from a quantized vector index (exactly re-scored candidates) and a
    # seed-local PPR (forward push) instead of scanning every vector and iterating over the
    # whole graph. At or below it, queries are exact (MuSiQue-100: 1,890; 2Wiki: 6,119). None:
    # always exact. docs/benchmarks.md, "The walk at scale", measures the choice.
    approximate_above: int | None = 10_000
    approximate_passage_candidates: int = 1_000  # passages read per query, re-scored and seeded
    approximate_fact_candidates: int = 1_000  # distinct fact vectors read per query
    approximate_link_passages: int = 100  # the facts of this many best passages are candidates
    push_epsilon: float = 3e-6  # forward push stops when every residual < epsilon * strength

    @field_validator("default_mode", mode="before")
    @classmethod
    def _legacy_auto(cls, value: object) -> object:
        # "auto" was the old default and always meant graph mode; old configurations keep working.
        return QueryMode.GRAPH if value == "auto" else value


class WorkerSettings(BaseModel):
    """Ingestion workers. ``in_process`` runs one inside ``hippograph serve``."""

    in_process: bool = True
    poll_interval_s: float = 0.5
    heartbeat_s: float = 10.0  # a running job's heartbeat period (from a thread, see jobs.worker)
    stalled_after_s: float = 120.0  # a running job silent this long lost its worker: reap it
    max_attempts: int = 3
    retry_backoff_s: float = 2.0  # first retry after an infrastructure failure; doubles each time
    # On shutdown, how long to wait for the document in hand before giving its job back.
    shutdown_grace_s: float = 10.0
    # Documents extracted, embedded and written together; a crash loses at most one group's work.
    group_size: int = 64


class LimitsSettings(BaseModel):
    """Bounds that protect the service from oversized requests and from one client taking it
    all (docs/security.md). A limit of 0 switches that limit off."""

    max_document_chars: int = 200_000  # one document's text (413 above)
    max_documents_per_request: int = 1_000
    max_import_bytes: int = 100 * 1024 * 1024  # an OpenIE import's body (413 above)
    max_request_bytes: int = 16 * 1024 * 1024  # any other request's body (413 above)
    # Per API key, the admin key included: requests in any 60 s window (429 with Retry-After
    # above). A key may carry its own figure. Keys off (the loopback default): no limit.
    requests_per_minute: int = 1_200
    # Per namespace (429 above: delete documents, or wait for jobs to finish).
    max_documents_per_namespace: int = 1_000_000
    max_bytes_per_namespace: int = 4 * 1024 * 1024 * 1024  # the documents' text, UTF-8
    max_queued_jobs_per_namespace: int = 100  # jobs queued or running


class AuthSettings(BaseModel):
    """API keys (docs/security.md). With ``admin_key`` set, every request but the health checks
    needs a key: the admin key, or one the admin created (``/v1/keys``, ``hippograph keys``).
    Without it the service is open, and ``hippograph serve`` binds only to a loopback address
    unless ``disabled`` says that an open service on the network is really meant."""

    admin_key: SecretStr = SecretStr("")
    disabled: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.admin_key.get_secret_value()) and not self.disabled


class MetricsSettings(BaseModel):
    """Prometheus metrics (``service/observability``). The API serves them at ``/metrics``;
    a ``hippograph worker`` process serves its own on ``worker_port`` (0: none)."""

    worker_port: int = Field(default=0, ge=0, le=65535)
    # With API keys on, /metrics needs the admin key unless this is set (a scraper inside a
    # private network). The figures hold no document text and no namespace names.
    public: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HIPPOGRAPH_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Path(".hippograph")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # "json": one JSON object per line, with the request, job and document ids in context.
    log_format: Literal["text", "json"] = "text"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    graph: GraphSettings = Field(default_factory=GraphSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    extraction: ExtractionSettings = Field(default_factory=ExtractionSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.graph.backend == "neo4j" and not self.graph.neo4j_uri:
            raise ValueError("graph.backend=neo4j needs HIPPOGRAPH_GRAPH__NEO4J_URI")
        key = self.auth.admin_key.get_secret_value()
        if key and len(key) < 24:
            raise ValueError("HIPPOGRAPH_AUTH__ADMIN_KEY must be at least 24 characters")
        return self

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{(self.data_dir / 'hippograph.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
