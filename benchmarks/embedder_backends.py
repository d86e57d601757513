"""Embedding backends and threads, measured back to back in one process.

Backends (torch, onnx, onnx-int8): throughput in texts/s over the distinct passage, entity and
fact texts of MuSiQue-100's OpenIE file (or a seeded sample of them), each backend with the same
threads, embedded in one call as ingestion does; then each backend's vectors against torch's
(max abs difference, mean and least cosine). Every backend is measured ``--repeats`` times,
interleaved, so a change in the machine's load hits all of them alike.

``--threads-study``: for torch and onnx, 1 thread against 2 — a 64-text batch and a single
query's embedding (median of 20) — idle, then while another process burns a core
(``python3 -c 'while 1: pass'``, started and killed by this script).

    python3 benchmarks/embedder_backends.py [--sample 5000] [--threads 0] [--threads-study]
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.domain.models import fact_text  # noqa: E402
from service.llm.embedder import Embedder, make_embedder, resolve_threads  # noqa: E402
from service.settings import EmbeddingSettings  # noqa: E402

OPENIE = ROOT.parent / "shared" / "data" / "musique-100" / "openie_gpt-3.5-turbo-1106.json"
QUESTIONS = ROOT.parent / "shared" / "data" / "musique-100" / "questions.json"
BACKENDS = ["torch", "onnx", "onnx-int8"]


def distinct_texts(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    texts: dict[str, None] = {}
    for doc in data["docs"]:
        texts.setdefault(doc["passage"])
        for entity in doc["extracted_entities"]:
            texts.setdefault(str(entity))
        triples = doc["extracted_triples"]
        if isinstance(triples, str):
            triples = ast.literal_eval(triples)
        for t in triples:
            if len(t) == 3:
                texts.setdefault(fact_text(*(str(x) for x in t)))
    return list(texts)


def build(backend: str, threads: int, cache: Path) -> Embedder:
    return make_embedder(EmbeddingSettings(backend=backend, threads=threads), cache)


def backends(args: argparse.Namespace, cache: Path) -> None:
    texts = distinct_texts(OPENIE)
    total = len(texts)
    if args.sample and args.sample < total:
        texts = random.Random(0).sample(texts, args.sample)
    threads = resolve_threads(args.threads)
    print(f"{len(texts)} texts (of {total} distinct), {threads} threads, batch 64, one embed() call")
    models = {b: build(b, threads, cache) for b in args.backends}
    for m in models.values():
        m.embed(texts[:64])  # warm-up
    rates: dict[str, list[float]] = {b: [] for b in models}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for b, m in models.items():
            t = time.perf_counter()
            vectors[b] = m.embed(texts)
            rates[b].append(len(texts) / (time.perf_counter() - t))
    ref = vectors.get("torch")
    print("\n| backend | texts/s (each run) | speed vs torch | max abs diff | mean cos | min cos |")
    print("| --- | --- | --- | --- | --- | --- |")
    for b in models:
        runs = ", ".join(f"{r:.0f}" for r in rates[b])
        speed = (
            " / ".join(f"{r / t:.2f}x" for r, t in zip(rates[b], rates["torch"], strict=True))
            if "torch" in rates
            else "-"
        )
        if ref is not None:
            cos = (vectors[b] * ref).sum(axis=1)
            diff = f"{np.abs(vectors[b] - ref).max():.1e} | {cos.mean():.5f} | {cos.min():.4f}"
        else:
            diff = "- | - | -"
        print(f"| {b} | {runs} | {speed} | {diff} |")


def _median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def threads_study(args: argparse.Namespace, cache: Path) -> None:
    texts = distinct_texts(OPENIE)
    batch = random.Random(1).sample(texts, 64)
    questions = [q["question"] for q in json.loads(QUESTIONS.read_text())][:20]
    print("\n64-text batch (median of 5) and one query (median of 20), ms")
    print("| backend | threads | load | 64-text batch ms | one query ms |")
    print("| --- | --- | --- | --- | --- |")
    for load in ("idle", "1 core busy"):
        burner = None
        if load != "idle":
            burner = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
            time.sleep(1.0)
        try:
            for backend in ("torch", "onnx"):
                for threads in (1, 2):
                    m = build(backend, threads, cache)  # torch: sets the process's thread count
                    m.embed(batch)
                    q = iter(questions * 10)
                    b_ms = _median_ms(lambda m=m: m.embed(batch), 5)
                    q_ms = _median_ms(lambda m=m, q=q: m.embed([next(q)]), 20)
                    print(f"| {backend} | {threads} | {load} | {b_ms:.0f} | {q_ms:.1f} |")
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sample", type=int, default=5000, help="texts sampled (0 = all distinct texts)")
    p.add_argument("--threads", type=int, default=0, help="0 = the cores available")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--threads-study", action="store_true", help="only the 1-vs-2-threads study")
    p.add_argument("--cache-dir", default="", help="exported ONNX models (default: a temporary folder)")
    args = p.parse_args()
    args.backends = [b for b in args.backends.split(",") if b]
    print("command: python3 " + " ".join(sys.argv))
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache_dir or tmp)
        if args.threads_study:
            threads_study(args, cache)
        else:
            backends(args, cache)


if __name__ == "__main__":
    main()
