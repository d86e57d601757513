"""The embedding model run by ONNX Runtime, exported locally from the bundled weights.

sentence-transformers' own ONNX backend (``backend="onnx"``) exports through ``optimum-onnx``,
whose exporter requires ``transformers<4.58`` while sentence-transformers 6 requires
``transformers>=5``: the two cannot be installed together. So the export is done here with
``torch.onnx`` (the TorchScript exporter) from the model sentence-transformers loads: the
transformer plus mean pooling in one graph; the L2 normalization is done in numpy. The int8
form is ONNX Runtime's dynamic quantization of that graph. Nothing is downloaded: the exported
files are written once into a cache folder, keyed by a hash of the model's files, and reused.

Only mean-pooling models (such as all-MiniLM-L6-v2) are supported.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

logger = logging.getLogger(__name__)

OnnxVariant = Literal["fp32", "int8"]
_EXPORT_FORMAT = "hippograph-onnx-v1"  # bump when the exported graph changes
_export_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _model_key(model_path: Path) -> str:
    """A short hash of the model's files (names, sizes and the weights' and config's bytes)."""
    h = hashlib.sha256(_EXPORT_FORMAT.encode())
    for f in sorted(p for p in model_path.rglob("*") if p.is_file() and ".git" not in p.parts):
        rel = f.relative_to(model_path).as_posix()
        h.update(f"{rel}:{f.stat().st_size}\n".encode())
        if f.suffix in {".json", ".safetensors", ".bin", ".txt"}:
            with f.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def _pooling_is_mean(model_path: Path) -> bool:
    config = model_path / "1_Pooling" / "config.json"
    if not config.exists():
        return True
    c = json.loads(config.read_text())
    others = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    return bool(c.get("pooling_mode_mean_tokens")) and not any(c.get(k) for k in others)


def _max_seq_length(model_path: Path) -> int:
    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        config = model_path / name
        if config.exists():
            value = json.loads(config.read_text()).get(key)
            if isinstance(value, int | float) and value > 0:
                return int(min(value, 512))
    return 512


class _Tokenizer:
    """The model's fast tokenizer, loaded with the ``tokenizers`` library alone: importing
    ``transformers`` for ``AutoTokenizer`` imports PyTorch too, several hundred MB of resident
    memory in every process for a tokenizer. It pads to the longest text of the call and
    truncates at ``max_length``, as ``AutoTokenizer(..., padding=True, truncation=True)`` does
    (tests/unit/test_onnx_tokenizer.py compares the two). Models without a ``tokenizer.json``
    fall back to ``AutoTokenizer``."""

    def __init__(self, model_path: Path, max_length: int, input_names: list[str]) -> None:
        self._inputs = input_names
        self._max_length = max_length
        self._fast: Any = None
        self._auto: Any = None
        file = model_path / "tokenizer.json"
        if file.exists():
            from tokenizers import Tokenizer

            fast = Tokenizer.from_file(str(file))
            padding = fast.padding or {}
            fast.enable_truncation(max_length=max_length)
            fast.enable_padding(
                pad_id=padding.get("pad_id", 0),
                pad_type_id=padding.get("pad_type_id", 0),
                pad_token=padding.get("pad_token", "[PAD]"),
            )
            self._fast = fast
        else:
            from transformers import AutoTokenizer

            self._auto = AutoTokenizer.from_pretrained(str(model_path))

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        if self._fast is None:
            enc = self._auto(
                texts, padding=True, truncation=True, max_length=self._max_length, return_tensors="np"
            )
            return {n: np.asarray(enc[n], dtype=np.int64) for n in self._inputs}
        encodings = self._fast.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {n: np.asarray(columns[n], dtype=np.int64) for n in self._inputs}


def _export_fp32(model_path: Path, target: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_path), device="cpu")
    transformer: Any = st[0].auto_model
    transformer.eval()
    tokenizer = st.tokenizer
    names = list(tokenizer.model_input_names)

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            kwargs = dict(zip(names, inputs, strict=True))
            hidden = self.transformer(**kwargs).last_hidden_state
            mask = kwargs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    sample = tokenizer(["a probe", "a longer probe sentence"], padding=True, return_tensors="pt")
    args = tuple(sample[n] for n in names)
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["embedding"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about values fixed at export; checked in tests
        torch.onnx.export(
            MeanPooled().eval(),
            args,
            str(target),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _atomic_write(target: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_onnx(model_path: str | Path, cache_dir: str | Path, variant: OnnxVariant = "fp32") -> Path:
    """The exported (and for ``int8`` quantized) model file, written on first use."""
    model_path = Path(model_path)
    if not _pooling_is_mean(model_path):
        raise ValueError(f"the ONNX embedder supports mean-pooling models only: {model_path}")
    folder = Path(cache_dir) / f"{model_path.name}-{_model_key(model_path)}"
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model.onnx"
    target = fp32 if variant == "fp32" else folder / "model_int8.onnx"
    with _export_lock:
        if not fp32.exists():
            logger.info("exporting %s to ONNX at %s (once)", model_path, fp32)
            _atomic_write(fp32, lambda tmp: _export_fp32(model_path, tmp))
        if variant == "int8" and not target.exists():
            from onnxruntime.quantization import (  # type: ignore[import-untyped]
                QuantType,
                quantize_dynamic,
            )

            logger.info("quantizing %s to int8 at %s (once)", fp32, target)
            _atomic_write(
                target,
                lambda tmp: quantize_dynamic(fp32, tmp, weight_type=QuantType.QInt8, per_channel=True),
            )
    return target


class OnnxEmbedder:
    """Same vectors as ``SentenceTransformerEmbedder`` (fp32: equal to ~1e-6), run by ONNX Runtime.

    Texts are sorted by length and batched as sentence-transformers does. ``threads`` is the
    session's intra-op thread count; its threads sleep instead of spinning when idle, so a
    second session in the process (the query lane) or another process gets the cores at once.
    """

    def __init__(
        self,
        model: str = "",
        *,
        variant: OnnxVariant = "fp32",
        cache_dir: str | Path,
        batch_size: int = 64,
        threads: int = 1,
        release_memory: bool = False,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import onnxruntime as ort  # type: ignore[import-untyped]

        from service.llm.embedder import bundled_model_path

        path = Path(model or bundled_model_path())
        base = model or "all-MiniLM-L6-v2"
        self.name = f"{base} (onnx)" if variant == "fp32" else f"{base} (onnx-int8)"
        self.file = export_onnx(path, cache_dir, variant)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Memory patterns plan one block per input shape seen, and every batch has its own
        # (texts x tokens): kept, they held ~265 MB more after 600 2Wiki passages, for no
        # measured speed (docs/benchmarks.md, "Memory under load").
        options.enable_mem_pattern = False
        self._session = ort.InferenceSession(str(self.file), options, providers=["CPUExecutionProvider"])
        # ONNX Runtime's arena keeps the largest working memory a batch ever needed (~0.6 GB
        # for batches of 32 long passages). Shrinking it after each run gives that back, at
        # ~10% of the embedding speed: off by default, for memory-bound deployments.
        self._run_options = ort.RunOptions()
        if release_memory:
            self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._tokenizer = _Tokenizer(path, _max_seq_length(path), self._inputs)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        width = self._session.get_outputs()[0].shape[-1]
        self.dim = width if isinstance(width, int) else int(self.embed(["probe"]).shape[1])
        logger.info(
            "embedder %s loaded from %s (dim=%d, threads=%d)", self.name, self.file, self.dim, threads
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for start in range(0, len(texts), self._batch_size):
                rows = order[start : start + self._batch_size]
                feed = self._tokenizer([texts[i] for i in rows])
                vectors = np.asarray(self._session.run(None, feed, self._run_options)[0], dtype=np.float32)
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                out[rows] = vectors / np.maximum(norms, 1e-12)
        return out
