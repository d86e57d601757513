"""Ingestion throughput and query latency on a HippoRAG-format corpus, for one graph backend.

    python benchmarks/ingest_query.py --backend sql   [--corpus ../shared/data/2wiki-corpus/corpus.json]
    python benchmarks/ingest_query.py --backend neo4j [--neo4j-uri bolt://127.0.0.1:7687]

With ``--backend neo4j`` and no ``--neo4j-uri``, a Neo4j is started from tools/neo4j (as the
tests do). Ingestion goes through the real job queue and worker with the offline extractor (no
LLM); queries are the opening sentences of a fixed sample of passages, run in graph mode one at
a time (wall time of ``pipeline.query``, query embedding included). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.container import Container  # noqa: E402
from service.pipeline.documents import NewDocument  # noqa: E402
from service.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sql", "neo4j"], default="sql")
    parser.add_argument("--corpus", default=str(REPO.parent / "shared/data/2wiki-corpus/corpus.json"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N passages")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--neo4j-uri", default=None)
    args = parser.parse_args()

    corpus = json.loads(Path(args.corpus).read_text())[: args.limit]
    work = Path(tempfile.mkdtemp(prefix="hippograph-bench-"))
    neo4j_process = None
    graph = {"backend": args.backend}
    if args.backend == "neo4j":
        uri = args.neo4j_uri
        if uri is None:
            from tests.support.neo4j_server import ensure_jars, start_neo4j

            ensure_jars(REPO)
            neo4j_process = start_neo4j(work / "neo4j")
            uri = neo4j_process.uri
        graph["neo4j_uri"] = uri
    settings = Settings(data_dir=work, graph=graph, extraction={"extractor": "offline"})
    container = Container.from_settings(settings)
    try:
        container.migrate()
        container.documents.create_namespace("bench")
        docs = [NewDocument(text=p["text"], title=p["title"]) for p in corpus]
        started = time.perf_counter()
        for i in range(0, len(docs), 1000):
            container.submit_documents("bench", docs[i : i + 1000])
        container.worker().drain()
        ingest_s = time.perf_counter() - started
        stats = container.graph.stats("bench")

        rng = random.Random(0)
        sample = rng.sample(corpus, min(args.queries, len(corpus)))
        questions = [re.split(r"(?<=[.!?])\s", p["text"].strip())[0][:300] for p in sample]
        started = time.perf_counter()
        container.snapshots.get("bench")
        snapshot_s = time.perf_counter() - started
        latencies = []
        for q in questions:
            t = time.perf_counter()
            container.query("bench", q, top_k=10, mode="graph")
            latencies.append((time.perf_counter() - t) * 1000)
        report = {
            "command": " ".join(["python", *sys.argv]),
            "backend": args.backend,
            "passages": stats.passages,
            "entities": stats.entities,
            "facts": stats.facts,
            "synonym_edges": stats.synonym_edges,
            "ingest_seconds": round(ingest_s, 1),
            "ingest_passages_per_s": round(stats.passages / ingest_s, 2),
            "snapshot_build_ms": round(snapshot_s * 1000, 1),
            "queries": len(latencies),
            "query_ms_p50": round(float(np.percentile(latencies, 50)), 1),
            "query_ms_p95": round(float(np.percentile(latencies, 95)), 1),
        }
        print(json.dumps(report, indent=2))
    finally:
        container.close()
        if neo4j_process is not None:
            neo4j_process.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
