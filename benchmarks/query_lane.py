"""Query embedding latency while ingestion embeds: the old shared embedder against the query lane.

For each variant, 50 MuSiQue questions are embedded one after another (``--gap-ms`` apart),
first idle, then while a background thread embeds MuSiQue-100's passages (all 1,890;
``--passages`` caps them) over and over, in calls of ``--ingest-call`` passages (about one
ingestion group's passages). Variants:

- ``old``: one torch embedder with one lock, shared by the queries and the ingestion thread
  (the service before the query lane).
- ``lane-<backend>``: the service's pair (``make_embedders``): a query instance and an
  ingestion instance sharing a ``QueryLane``; ingestion embeds in chunks and steps aside
  between chunks while a query embeds.

Printed: p50/p95/max of the query embedding in ms, and the ingestion thread's texts/s meanwhile.

    python3 benchmarks/query_lane.py [--backends torch,onnx] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.llm.embedder import Embedder, make_embedder, make_embedders, resolve_threads  # noqa: E402
from service.settings import EmbeddingSettings  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "musique-100"


def _percentiles(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"{np.percentile(a, 50):.0f} | {np.percentile(a, 95):.0f} | {a.max():.0f}"


def measure(
    query: Embedder, ingest: Embedder, questions: list[str], passages: list[str], args: argparse.Namespace
) -> tuple[list[float], list[float], float]:
    def run_queries() -> list[float]:
        out = []
        for q in questions:
            t = time.perf_counter()
            query.embed([q])
            out.append((time.perf_counter() - t) * 1000)
            time.sleep(args.gap_ms / 1000)
        return out

    query.embed(["warm-up"])
    ingest.embed(passages[:32])
    idle = run_queries()

    stop = threading.Event()
    embedded = [0]

    def ingestion() -> None:
        while not stop.is_set():
            for i in range(0, len(passages), args.ingest_call):
                if stop.is_set():
                    return
                ingest.embed(passages[i : i + args.ingest_call])
                embedded[0] += len(passages[i : i + args.ingest_call])

    worker = threading.Thread(target=ingestion, daemon=True)
    started = time.perf_counter()
    worker.start()
    time.sleep(1.0)  # ingestion under way
    busy = run_queries()
    stop.set()
    worker.join()
    rate = embedded[0] / (time.perf_counter() - started)
    return idle, busy, rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="torch", help="lane variants to measure, e.g. torch,onnx")
    p.add_argument("--threads", type=int, default=0, help="0 = the cores available")
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--passages", type=int, default=2000)
    p.add_argument("--ingest-call", type=int, default=128)
    p.add_argument("--gap-ms", type=float, default=50.0)
    p.add_argument("--no-old", action="store_true", help="skip the old shared-lock embedder")
    args = p.parse_args()
    print("command: python3 " + " ".join(sys.argv))
    questions = [q["question"] for q in json.loads((DATA / "questions.json").read_text())][: args.queries]
    passages = [f"{d['title']}\n{d['text']}" for d in json.loads((DATA / "corpus.json").read_text())]
    passages = passages[: args.passages]
    threads = resolve_threads(args.threads)
    print(
        f"{len(questions)} queries {args.gap_ms:.0f} ms apart; ingestion: {len(passages)} passages "
        f"in calls of {args.ingest_call}, repeated; {threads} threads per embedder"
    )
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        variants: list[tuple[str, Embedder, Embedder]] = []
        if not args.no_old:
            old = make_embedder(EmbeddingSettings(backend="torch", threads=threads), cache)
            variants.append(("old (one torch embedder, one lock)", old, old))
        for b in [x for x in args.backends.split(",") if x]:
            q, i = make_embedders(EmbeddingSettings(backend=b, threads=threads), cache)
            variants.append((f"lane-{b} (two instances, queries first)", q, i))
        for name, q, i in variants:
            idle, busy, rate = measure(q, i, questions, passages, args)
            rows.append(
                f"| {name} | {_percentiles(idle)} | {_percentiles(busy)} | "
                f"{np.percentile(busy, 95) / np.percentile(idle, 95):.1f}x | {rate:.0f} |"
            )
    print(
        "\n| embedder | idle p50 | idle p95 | idle max | busy p50 | busy p95 | busy max | "
        "busy p95 / idle p95 | ingestion texts/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print("(query embedding wall time in ms)")


if __name__ == "__main__":
    main()
