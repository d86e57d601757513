"""The walk at scale: graph-mode ranking without the query embedding, on synthetic snapshots
shaped like 2Wiki (service/retrieval/synthetic.py), exact against approximate.

    python benchmarks/walk_scale.py --sizes 100000,1000000 --exact-up-to 100000 --out walk_scale.json
    python benchmarks/walk_scale.py --measure   # the 2Wiki shape, read again with the offline extractor

For each size: the snapshot is generated (random unit vectors, dim 384), its walk index built,
then 100 queries (a random unit vector each: ``--kinds random``; or ``planted``: a vector about
one passage, at cosine 0.55 to it and to one of its facts, like a real question to its best
passage) are ranked through ``Query.rank`` in graph mode with the embedder and the store
stubbed out. "walk" is the wall time of ``rank`` less its embed and snapshot laps: the dense
scores, fact linking, seeds, PPR and the final ranking (the stub fetch costs ~0.1 ms). One
warm-up query per path is not counted. Exact (``approximate_above`` = None) runs up to
``--exact-up-to`` passages; where both run, the overlap of their top-10 passages is reported.
Memory: the process's resident set after each step (and its peak), and the snapshot's own
arrays (vectors, graph, fact tables) per passage.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.domain.models import Passage  # noqa: E402
from service.domain.records import QueryMode  # noqa: E402
from service.pipeline.query import Query, RetrievalParams  # noqa: E402
from service.retrieval.approximate import walk_index  # noqa: E402
from service.retrieval.snapshot import Snapshot  # noqa: E402
from service.retrieval.synthetic import Shape, planted_queries, random_queries, synthetic_snapshot  # noqa: E402
from service.settings import RetrievalSettings  # noqa: E402

NAMESPACE = "synthetic"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def snapshot_bytes(snapshot: Snapshot) -> dict[str, int]:
    """The snapshot's numpy and sparse arrays by kind (Python lists and dicts not counted)."""
    t = snapshot.transitions
    graph = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in (t.adjacency, t.matrix))
    graph += t.dangling.nbytes + snapshot.entity_passage_counts.nbytes + snapshot.passage_nodes.nbytes
    facts = sum(
        a.nbytes
        for a in (
            snapshot.fact_subject_nodes,
            snapshot.fact_object_nodes,
            snapshot.fact_source_rows,
            snapshot.fact_source_start,
        )
    )
    if snapshot.fact_vector_rows is not None:
        facts += snapshot.fact_vector_rows.nbytes
    return {
        "passage_vectors": snapshot.passage_matrix.nbytes,
        "fact_vectors": snapshot.fact_matrix.nbytes,
        "graph": graph,
        "fact_tables": facts,
    }


class _Snapshots:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def get(self, namespace: str) -> Snapshot:
        return self.snapshot


class _Embedder:
    """Returns the vector set before each query: the walk is timed without an embedding."""

    name = "preset"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.next = np.zeros(dim, dtype=np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.next[None, :]


class _Store:
    def get_passages(self, namespace: str, ids: list[str]) -> dict[str, Passage]:
        return {p: Passage(p, "doc", 0, None, "", np.zeros(0, dtype=np.float32)) for p in ids}


class _Namespaces:
    def get_namespace(self, namespace: str) -> None:
        return None


def make_query(snapshot: Snapshot, settings: RetrievalSettings) -> tuple[Query, _Embedder]:
    embedder = _Embedder(snapshot.passage_matrix.shape[1])
    query = Query(
        namespaces=_Namespaces(),  # type: ignore[arg-type]
        store=_Store(),  # type: ignore[arg-type]
        snapshots=_Snapshots(snapshot),  # type: ignore[arg-type]
        lexical=None,  # type: ignore[arg-type]
        embedder=embedder,
        params=RetrievalParams.from_settings(settings),
        default_mode=QueryMode.GRAPH,
        max_top_k=settings.max_top_k,
    )
    return query, embedder


def run_walks(snapshot: Snapshot, settings: RetrievalSettings, queries: np.ndarray, top_k: int) -> dict:
    query, embedder = make_query(snapshot, settings)
    row_of = {p: r for r, p in enumerate(snapshot.passage_ids)}
    walks, laps, tops, fallbacks = [], [], [], 0
    for i, vector in enumerate(np.concatenate([queries[:1], queries])):
        embedder.next = vector
        started = time.perf_counter()
        result = query.rank(NAMESPACE, "", top_k=top_k, mode=QueryMode.GRAPH)
        wall = (time.perf_counter() - started) * 1000
        if i == 0:
            continue  # warm-up
        t = result.timings_ms
        walks.append(wall - t.get("embed", 0.0) - t.get("snapshot", 0.0))
        laps.append({k: v for k, v in t.items() if k not in ("embed", "snapshot", "total")})
        tops.append([row_of[p.passage_id] for p in result.passages])
        fallbacks += result.fallback is not None
    lap_names = sorted({k for lap in laps for k in lap})
    return {
        "walk_p50_ms": round(float(np.percentile(walks, 50)), 2),
        "walk_p95_ms": round(float(np.percentile(walks, 95)), 2),
        "walk_max_ms": round(float(np.max(walks)), 2),
        "laps_p50_ms": {
            k: round(float(np.percentile([lap.get(k, 0.0) for lap in laps], 50)), 2) for k in lap_names
        },
        "fallbacks": fallbacks,
        "tops": tops,
    }


def overlap(a: list[list[int]], b: list[list[int]], k: int) -> float:
    return float(
        np.mean([len(set(x[:k]) & set(y[:k])) / max(1, min(k, len(y))) for x, y in zip(a, b, strict=True)])
    )


def measure_size(n: int, args: argparse.Namespace) -> dict:
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    snapshot = synthetic_snapshot(n, seed=args.seed)
    generated = time.perf_counter() - started
    after_snapshot = rss_bytes()
    started = time.perf_counter()
    index = walk_index(snapshot)
    index_s = time.perf_counter() - started
    after_index = rss_bytes()
    arrays = snapshot_bytes(snapshot)
    out: dict = {
        "passages": n,
        "nodes": snapshot.transitions.n,
        "entities": snapshot.transitions.n - n,
        "facts": len(snapshot.fact_ids),
        "fact_vectors": len(snapshot.fact_matrix),
        "edges": int(snapshot.transitions.adjacency.nnz // 2),
        "generate_s": round(generated, 1),
        "index_build_s": round(index_s, 1),
        "snapshot_rss_mb": round((after_snapshot - before) / 2**20),
        "index_rss_mb": round((after_index - after_snapshot) / 2**20),
        "index_bytes_per_passage": round(index.nbytes / n),
        "array_bytes_per_passage": {k: round(v / n) for k, v in arrays.items()},
        "array_bytes_per_passage_total": round(sum(arrays.values()) / n),
        "kinds": {},
    }
    rng = np.random.default_rng(args.seed + 1)
    for kind in args.kinds:
        dim = snapshot.passage_matrix.shape[1]
        if kind == "random":
            queries = random_queries(args.queries, dim, rng)
        else:
            queries = planted_queries(snapshot, args.queries, rng)
        approx = run_walks(snapshot, RetrievalSettings(approximate_above=0), queries, args.top_k)
        row: dict = {"approximate": approx}
        if n <= args.exact_up_to:
            exact = run_walks(snapshot, RetrievalSettings(approximate_above=None), queries, args.top_k)
            row["exact"] = exact
            row["top10_overlap"] = round(overlap(exact["tops"], approx["tops"], 10), 4)
        out["kinds"][kind] = row
        print(f"  {n:>9,} {kind:8} approx p50/p95 {approx['walk_p50_ms']}/{approx['walk_p95_ms']} ms", end="")
        if "exact" in row:
            e = row["exact"]
            print(
                f"; exact {e['walk_p50_ms']}/{e['walk_p95_ms']} ms; overlap@10 {row['top10_overlap']:.3f}",
                end="",
            )
        print(flush=True)
    out["rss_mb"] = round(rss_bytes() / 2**20)
    out["peak_rss_mb"] = round(peak_rss_bytes() / 2**20)
    del snapshot, index
    gc.collect()
    return out


def measure_shape(corpus_path: Path, sample: int = 500, seed: int = 0) -> dict:
    """The 2Wiki shape, with the service's offline extractor (synthetic.Shape.twowiki holds it)."""
    from collections import Counter

    from service.domain import ids
    from service.domain.models import PassageText, fact_embedding_text
    from service.extraction.offline import OfflineExtractor

    corpus = json.loads(corpus_path.read_text())
    extractor = OfflineExtractor()

    def read(items: list[dict]) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        profiles, degree = [], Counter()
        for i, doc in enumerate(items):
            x = extractor.extract(PassageText(f"d{i}", 0, doc["title"], doc["text"]))
            entities = {ids.entity_id("ns", n) for t in x.triples for n in (t.subject, t.object)}
            facts = {ids.fact_id("ns", t.subject, t.relation, t.object) for t in x.triples}
            vectors = {fact_embedding_text(t, doc["title"]) for t in x.triples}
            profiles.append((len(entities), len(facts), len(vectors)))
            degree.update(entities)
        return profiles, np.array(list(degree.values()))

    random.seed(seed)
    picked = random.sample(corpus, sample)
    profiles, sample_degrees = read(picked)
    _, degrees = read(corpus)
    tail = degrees[degrees >= 2]
    p = np.array(profiles)
    return {
        "sample": ";".join(",".join(map(str, r)) for r in profiles),
        "sample_matches_embedded": ";".join(",".join(map(str, r)) for r in profiles)
        == ";".join(",".join(map(str, r)) for r in Shape.twowiki().profiles),
        "per_passage_mean": {
            "entities": p[:, 0].mean(),
            "facts": p[:, 1].mean(),
            "fact_vectors": p[:, 2].mean(),
        },
        "corpus_passages": len(corpus),
        "single_mention_share": float(np.mean(degrees == 1)),
        "tail_exponent": float(1 + len(tail) / np.sum(np.log(tail / 1.5))),
        "entities_per_passage": len(degrees) / len(corpus),
        "heaps_exponent": float(np.log(len(degrees) / len(sample_degrees)) / np.log(len(corpus) / sample)),
        "max_degree": int(degrees.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="passages, comma separated")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--kinds", default="random,planted", help="random and/or planted query vectors")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--exact-up-to", type=int, default=100_000, help="largest size walked exactly too")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--measure", action="store_true", help="measure the 2Wiki shape and stop")
    parser.add_argument("--corpus", default=str(REPO.parent / "shared/data/2wiki-corpus/corpus.json"))
    args = parser.parse_args()
    print("command:", " ".join(["python", "benchmarks/walk_scale.py", *sys.argv[1:]]))
    if args.measure:
        print(json.dumps(measure_shape(Path(args.corpus)), indent=2, default=float))
        return
    args.kinds = [k for k in args.kinds.split(",") if k]
    results = {"command": " ".join(["python", "benchmarks/walk_scale.py", *sys.argv[1:]]), "sizes": []}
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"size {n:,}", flush=True)
        row = measure_size(n, args)
        results["sizes"].append(row)
        short = {k: v for k, v in row.items() if k != "kinds"}
        print("  ", json.dumps(short), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(_without_tops(results), indent=2))
    print(table(results))


def _without_tops(results: dict) -> dict:
    clean = json.loads(json.dumps(results))
    for row in clean["sizes"]:
        for kind in row["kinds"].values():
            for path in ("approximate", "exact"):
                if path in kind:
                    kind[path].pop("tops", None)
    return clean


def table(results: dict) -> str:
    lines = [
        "| passages | queries | walk | p50 ms | p95 ms | top-10 overlap | RSS MB | arrays B/passage |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["sizes"]:
        for kind, r in row["kinds"].items():
            for path in ("exact", "approximate"):
                if path not in r:
                    continue
                w = r[path]
                lines.append(
                    f"| {row['passages']:,} | {kind} | {path} | {w['walk_p50_ms']} | {w['walk_p95_ms']} | "
                    f"{r.get('top10_overlap', '–') if path == 'approximate' else ''} | {row['rss_mb']:,} | "
                    f"{row['array_bytes_per_passage_total']:,} |"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
