"""BM25 over a namespace's passages (``bm25`` query mode), built lazily per snapshot.

The index covers exactly the snapshot's passages, row for row (``title + "\\n" + text``), so the
query use case ranks by BM25 the same rows it would rank by embedding. It is built on first
use for a ``(namespace, graph_version)`` and cached; a write or delete moves the version and the
next query rebuilds it.

Tokenization is bm25s's: lowercase, ``(?u)\\b\\w\\w+\\b`` tokens, its English stopword list, no
stemming. Scoring is bm25s's default (Lucene BM25, k1 = 1.5, b = 0.75). Ranking takes every
passage's score and breaks ties by snapshot row, so results are deterministic.
"""

from __future__ import annotations

import logging
import time

import bm25s
import numpy as np

from service.retrieval.keyed_cache import KeyedCache
from service.retrieval.snapshot import Snapshot
from service.stores.base import GraphStore

logger = logging.getLogger(__name__)
# bm25s sets its own logger to DEBUG on import; let it inherit the application's level again.
logging.getLogger("bm25s").setLevel(logging.NOTSET)

STOPWORDS = "en"


def _tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, lower=True, stopwords=STOPWORDS, return_ids=False, show_progress=False)


class LexicalIndex:
    """A BM25 index whose document i is snapshot passage row i."""

    def __init__(self, namespace: str, version: int, texts: list[str]) -> None:
        self.namespace = namespace
        self.version = version
        self.size = len(texts)
        self._retriever = bm25s.BM25()
        tokens = _tokenize(texts)
        # bm25s cannot index an empty vocabulary (no passage has a word of two or more
        # characters that is not a stopword): such an index ranks nothing.
        self._empty = not any(tokens)
        if not self._empty:
            self._retriever.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every passage row for the query (zeros when no query token is in the
        vocabulary)."""
        if self._empty:
            return np.zeros(self.size, dtype=np.float32)
        vocab = self._retriever.vocab_dict
        tokens = [t for t in _tokenize([query])[0] if t in vocab]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)

    def rank(self, query: str, top_k: int) -> list[tuple[int, float]]:
        """(row, score) of the ``top_k`` best passages, best first; ties by row. Only passages
        that share a word with the query: a lexical ranking has nothing to say about the rest."""
        scores = self.scores(query)
        order = np.lexsort((np.arange(len(scores)), -scores))[:top_k]
        return [(int(r), float(scores[r])) for r in order if scores[r] > 0]


class LexicalIndexCache:
    """One BM25 index per namespace, for the snapshot version it was built from.

    Holds at most ``max_namespaces`` indexes (least recently used goes first).
    """

    def __init__(self, store: GraphStore, *, max_namespaces: int = 8) -> None:
        self._store = store
        self._indexes: KeyedCache[str, LexicalIndex] = KeyedCache(max_namespaces)

    def get(self, snapshot: Snapshot) -> LexicalIndex:
        return self._indexes.get(
            snapshot.namespace,
            fresh=lambda current: current.version == snapshot.version,
            build=lambda: self._build(snapshot),
        )

    def drop(self, namespace: str) -> None:
        self._indexes.drop(namespace)

    def _build(self, snapshot: Snapshot) -> LexicalIndex:
        started = time.perf_counter()
        stored = self._store.get_passages(snapshot.namespace, snapshot.passage_ids)
        texts = []
        for pid in snapshot.passage_ids:
            p = stored.get(pid)
            # A passage deleted since the snapshot keeps its row (empty) so rows stay aligned.
            texts.append("" if p is None else (f"{p.title}\n{p.text}" if p.title else p.text))
        index = LexicalIndex(snapshot.namespace, snapshot.version, texts)
        logger.info(
            "bm25 index %s v%d: %d passages in %.0f ms",
            snapshot.namespace,
            snapshot.version,
            len(texts),
            (time.perf_counter() - started) * 1000,
        )
        return index
