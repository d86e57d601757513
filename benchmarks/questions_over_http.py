"""Run a HippoRAG-format question set through a running service's query endpoint.

    HIPPOGRAPH_DATA_DIR=eval-out/musique-100/data hippograph serve --no-worker &
    python benchmarks/questions_over_http.py NAMESPACE [--questions ../shared/data/musique-100/questions.json]

Prints Recall@2/5/10 and client-side latency (HTTP included). Use it on a namespace that
`hippograph eval` or `hippograph import-openie` filled, to check that the REST path ranks exactly
as the in-process pipeline does.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("namespace")
    parser.add_argument("--questions", default=str(REPO.parent / "shared/data/musique-100/questions.json"))
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    questions = json.loads(Path(args.questions).read_text())
    recall: dict[int, list[float]] = {2: [], 5: [], 10: []}
    latencies = []
    with httpx.Client(base_url=args.url, timeout=60) as client:
        for q in questions:
            gold = {
                (p["title"], " ".join(p.get("paragraph_text", p.get("text", "")).split()))
                for p in q["paragraphs"]
                if p.get("is_supporting")
            }
            started = time.perf_counter()
            r = client.post(
                f"/v1/namespaces/{args.namespace}/query", json={"query": q["question"], "top_k": 10}
            )
            latencies.append((time.perf_counter() - started) * 1000)
            r.raise_for_status()
            got = [(p["title"], " ".join(p["text"].split())) for p in r.json()["passages"]]
            for k, values in recall.items():
                values.append(len(gold & set(got[:k])) / len(gold) if gold else 0.0)
    print(
        json.dumps(
            {
                "questions": len(questions),
                "recall": {k: round(100 * sum(v) / len(v), 1) for k, v in recall.items()},
                "latency_ms": {
                    "p50": round(float(np.percentile(latencies, 50)), 1),
                    "p95": round(float(np.percentile(latencies, 95)), 1),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
