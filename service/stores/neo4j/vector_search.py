"""Nearest-neighbour search through Neo4j's native vector indexes, scored like the SQL backend.

A vector index spans every namespace, so per query row the search fetches ``k`` neighbours from
the index and keeps the namespace's. That answer is complete when

* the index ran dry (fewer than ``k`` rows came back), or
* at least ``top_k`` hits belong to the namespace (everything unseen ranks lower), or
* the index's scores already fell below ``min_score`` (nothing unseen can pass it).

Otherwise ``k`` grows; past ``MAX_FETCH`` the row is answered by the caller's exact search (a
small namespace inside a large index). The kept candidates are re-scored with numpy from their
stored vectors, so scores, ``min_score`` and ties (by id) behave exactly as ``top_k_search`` does
for the SQL backend: the index only decides which candidates are looked at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import neo4j
import numpy as np

from service.domain.models import VectorKind
from service.stores.neo4j import cypher, schema
from service.stores.vector_cache import top_k_search

Hits = list[list[tuple[str, float]]]
Reader = Callable[[str, dict[str, Any]], list[neo4j.Record]]


class IndexHits(NamedTuple):
    """One query row's answer from the index: ``n`` neighbours (all namespaces), the lowest index
    score among them (as a cosine), and the namespace's neighbours that scored at least the
    floor, with their cosine recomputed from the stored vector."""

    n: int
    lowest: float
    mine: dict[str, float]


NO_HITS = IndexHits(0, -1.0, {})

FETCH_FACTOR = 4
MIN_FETCH = 32
MAX_FETCH = 4096
QUERIES_PER_CALL = 64
# HNSW scores are approximate: a candidate is only ruled out by them with this much room.
INDEX_MARGIN = 0.02
# Server-side cosine vs. the numpy float32 dot product: near-ties go to the exact re-score.
SCORE_EPS = 1e-5


def search(
    read: Reader,
    namespace: str,
    kind: VectorKind,
    queries: np.ndarray,
    top_k: int,
    min_score: float,
    exact: Callable[[list[int]], Hits],
    read_chunk: int,
) -> Hits:
    """``queries`` is a 2-D float32 array; ``exact(rows)`` answers the given rows exactly."""
    selected: dict[int, list[str]] = {}
    pending = list(range(len(queries)))
    fetch = max(FETCH_FACTOR * top_k, top_k + MIN_FETCH)
    while pending and fetch <= MAX_FETCH:
        hits = _index_hits(read, namespace, kind, queries, pending, fetch, min_score)
        still: list[int] = []
        for i in pending:
            chosen = choose(hits.get(i, NO_HITS), fetch, top_k, min_score)
            if chosen is None:
                still.append(i)
            else:
                selected[i] = chosen
        pending = still
        fetch *= FETCH_FACTOR
    out: Hits = [[] for _ in range(len(queries))]
    if pending:
        for i, found in zip(pending, exact(pending), strict=True):
            out[i] = found
    wanted = sorted({id_ for ids in selected.values() for id_ in ids})
    vectors: dict[str, list[float]] = {}
    for start in range(0, len(wanted), read_chunk):
        params = {"namespace": namespace, "ids": wanted[start : start + read_chunk]}
        vectors.update((r["id"], r["embedding"]) for r in read(cypher.VECTORS_BY_ID[kind], params))
    for i, ids in selected.items():
        candidates = sorted(id_ for id_ in ids if id_ in vectors)
        if candidates:
            matrix = np.asarray([vectors[c] for c in candidates], dtype=np.float32)
            out[i] = top_k_search(candidates, matrix, queries[i : i + 1], top_k, min_score)[0]
    return out


def _index_hits(
    read: Reader,
    namespace: str,
    kind: VectorKind,
    queries: np.ndarray,
    rows: list[int],
    fetch: int,
    min_score: float,
) -> dict[int, IndexHits]:
    hits: dict[int, IndexHits] = {}
    # Index scores are (1 + cos) / 2; below the floor nothing can reach min_score.
    floor = (1.0 + max(-1.0, min_score - INDEX_MARGIN)) / 2.0
    for start in range(0, len(rows), QUERIES_PER_CALL):
        params = {
            "namespace": namespace,
            "index": schema.VECTOR_INDEXES[kind],
            "k": fetch,
            "floor": floor,
            "queries": [
                {"i": i, "vector": queries[i].tolist()} for i in rows[start : start + QUERIES_PER_CALL]
            ],
        }
        for r in read(cypher.SEARCH[kind], params):
            mine: dict[str, float] = {}
            for id_, exact in r["mine"]:
                cosine = 2.0 * float(exact) - 1.0
                mine[id_] = max(mine.get(id_, -2.0), cosine)  # a fact has one hit per passage
            hits[r["i"]] = IndexHits(int(r["n"]), 2.0 * float(r["lowest"]) - 1.0, mine)
    return hits


def choose(hits: IndexHits, fetch: int, top_k: int, min_score: float) -> list[str] | None:
    """The namespace's candidates worth an exact re-score, or None when the index must be asked
    for more than ``fetch`` neighbours. ``hits.mine`` only holds hits above the floor, which
    drops nothing unless ``hits.lowest`` is already below it (and then the answer is complete)."""
    exhausted = hits.n < fetch
    if not (exhausted or len(hits.mine) >= top_k or hits.lowest < min_score - INDEX_MARGIN):
        return None
    ranked = sorted(
        ((score, id_) for id_, score in hits.mine.items() if score >= min_score - SCORE_EPS),
        key=lambda item: (-item[0], item[1]),
    )
    if len(ranked) > top_k:
        floor = ranked[top_k - 1][0] - SCORE_EPS
        ranked = [item for item in ranked if item[0] >= floor]
    return [id_ for _, id_ in ranked]
