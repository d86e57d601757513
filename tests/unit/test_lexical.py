"""The BM25 index (``LexicalIndex``) and its per-namespace cache (``LexicalIndexCache``).

Scores are bm25s's Lucene BM25 with k1 = 1.5, b = 0.75:

    idf(t)      = ln(1 + (N - df + 0.5) / (df + 0.5))
    score(t, d) = idf(t) * tf / (tf + 1.5 * (0.25 + 0.75 * len(d) / avg_len))

over lowercase tokens of two or more word characters, English stopwords dropped. Every expected
number below is worked out by hand from that. The cache runs on a real SQLite graph store.
"""

from __future__ import annotations

from math import log

import numpy as np
import pytest

from service.domain.models import Extraction, PassageText
from service.pipeline.batch import build_write_batch
from service.retrieval.lexical import LexicalIndex, LexicalIndexCache
from service.retrieval.snapshot import build_snapshot
from service.stores.sql.db import make_engine, migrate
from service.stores.sql.graph_store import SqlGraphStore

LN2 = log(2)

# Four passages; token counts 2, 4, 1, 1 -> average length 2.
TEXTS = ["apple banana", "Apple apple cherry cherry", "durian", "banana"]


def _index(texts=TEXTS) -> LexicalIndex:
    return LexicalIndex("ns", 1, list(texts))


def _approx(ranked: list[tuple[int, float]]):
    return [(row, pytest.approx(score, rel=1e-5)) for row, score in ranked]


def test_only_passages_sharing_a_word_with_the_query_are_ranked_best_first():
    # "apple": df 2 of N 4 -> idf ln 2.
    #   row 0: tf 1, len 2 -> 1 / (1 + 1.5 * (0.25 + 0.75)) = 1 / 2.5
    #   row 1: tf 2, len 4 -> 2 / (2 + 1.5 * (0.25 + 1.5)) = 2 / 4.625 (more apples: first)
    # Rows 2 and 3 have no "apple" and are not listed at all (not even with score 0).
    assert _index().rank("apple", 10) == _approx([(1, LN2 * 2 / 4.625), (0, LN2 / 2.5)])


def test_scores_of_several_query_words_add_up():
    # "banana": df 2 -> idf ln 2. Row 0: 1 / 2.5; row 3: tf 1, len 1 ->
    #   1 / (1 + 1.5 * (0.25 + 0.375)) = 1 / 1.9375.
    # Row 0 has both words: ln2 * (1/2.5 + 1/2.5) = 0.8 ln 2 -> first; then row 3 (0.516 ln 2),
    # then row 1 (apple only, 0.432 ln 2). Case and punctuation do not matter.
    expected = [(0, LN2 * 0.8), (3, LN2 / 1.9375), (1, LN2 * 2 / 4.625)]
    assert _index().rank("Banana, APPLE!", 10) == _approx(expected)
    assert _index().rank("Banana, APPLE!", 2) == _approx(expected[:2])
    # "durian": df 1 -> idf ln(1 + 3.5 / 1.5) = ln(10/3); row 2: tf 1, len 1 -> 1 / 1.9375.
    assert _index().rank("durian", 1) == _approx([(2, log(10 / 3) / 1.9375)])


def test_a_query_of_stopwords_and_unknown_words_ranks_nothing():
    assert _index().rank("the zebra", 10) == []
    assert _index().scores("the zebra").tolist() == [0.0, 0.0, 0.0, 0.0]
    # Unknown words neither help nor hurt.
    assert _index().rank("apple zebra", 10) == _index().rank("apple", 10)


def test_equal_scores_are_ordered_by_row():
    # Rows 0 and 2 are the same text: same score, so row order (0 before 2), also under top_k.
    # "kiwi": df 2 of N 3 -> idf ln(1 + 1.5 / 2.5) = ln 1.6; tf 1, len 1 = avg -> 1 / 2.5.
    index = _index(["kiwi", "plum", "kiwi"])
    score = log(1.6) / 2.5
    assert index.rank("kiwi", 10) == _approx([(0, score), (2, score)])
    assert index.rank("kiwi", 1) == _approx([(0, score)])


def test_an_index_of_no_passages_ranks_nothing():
    index = _index([])
    assert index.size == 0 and index.rank("apple", 5) == []


def test_passages_without_an_indexable_word_rank_nothing():
    index = _index(["It is 1.", ""])
    assert index.size == 2 and index.rank("it is 1", 5) == []


# --- the cache, on a real SQLite graph store ------------------------------------------------


@pytest.fixture
def store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'graph.db'}")
    migrate(engine)
    yield SqlGraphStore(engine)
    engine.dispose()


def _write(store, ns: str, doc: str, *passages: tuple[str | None, str]) -> None:
    """Passages only (no entities, no facts): all the lexical index reads."""
    texts = [PassageText(doc, i, title, text) for i, (title, text) in enumerate(passages)]
    vectors = np.full((len(texts), 4), 0.5, dtype=np.float32)
    empty = [Extraction((), ())] * len(texts)
    store.write(build_write_batch(ns, doc, texts, empty, vectors, {}, {}))


def _ranked_texts(store, snapshot, index, query: str) -> list[str]:
    """The text of each ranked row, looked up through the snapshot's row -> passage id."""
    stored = store.get_passages(snapshot.namespace, snapshot.passage_ids)
    return [stored[snapshot.passage_ids[row]].text for row, _ in index.rank(query, 10)]


def test_the_index_is_built_from_the_snapshots_passages_title_included(store):
    _write(store, "a", "d1", (None, "apple banana"), ("Cherry", "apple apple"))
    snapshot = build_snapshot(store, "a")
    index = LexicalIndexCache(store).get(snapshot)
    assert (index.namespace, index.version, index.size) == ("a", snapshot.version, 2)
    # "cherry" is only in the title of the second passage, indexed as "Cherry\napple apple":
    # 3 tokens; the other has 2 -> average 2.5. df 1 of N 2 -> idf ln 2;
    # tf 1 -> 1 / (1 + 1.5 * (0.25 + 0.75 * 3 / 2.5)) = 1 / 2.725.
    ranked = index.rank("cherry", 10)
    assert len(ranked) == 1 and ranked[0][1] == pytest.approx(LN2 / 2.725, rel=1e-5)
    assert _ranked_texts(store, snapshot, index, "cherry") == ["apple apple"]
    assert _ranked_texts(store, snapshot, index, "banana") == ["apple banana"]


def test_the_cache_keeps_one_index_per_snapshot_version_and_rebuilds_when_it_moves(store):
    _write(store, "a", "d1", (None, "apple banana"))
    cache = LexicalIndexCache(store)
    first = build_snapshot(store, "a")
    index = cache.get(first)
    assert cache.get(first) is index  # same version: not rebuilt
    assert cache.get(build_snapshot(store, "a")) is index  # a new snapshot of the same version

    _write(store, "a", "d2", (None, "cherry durian"))
    second = build_snapshot(store, "a")
    assert second.version > first.version
    fresh = cache.get(second)
    assert fresh is not index and (fresh.version, fresh.size) == (second.version, 2)
    assert _ranked_texts(store, second, fresh, "durian") == ["cherry durian"]
    assert index.rank("durian", 10) == []  # the old index never saw it
    assert cache.get(second) is fresh


def test_drop_forgets_the_namespaces_index(store):
    _write(store, "a", "d1", (None, "apple banana"))
    _write(store, "b", "d1", (None, "apple cherry"))
    cache = LexicalIndexCache(store)
    a, b = build_snapshot(store, "a"), build_snapshot(store, "b")
    index_a, index_b = cache.get(a), cache.get(b)
    cache.drop("a")
    rebuilt = cache.get(a)
    assert rebuilt is not index_a and rebuilt.rank("banana", 10) == index_a.rank("banana", 10)
    assert cache.get(b) is index_b  # another namespace is untouched
    cache.drop("never-seen")  # dropping an unknown namespace is fine


def test_the_least_recently_used_namespace_goes_first(store):
    for ns in ("a", "b", "c"):
        _write(store, ns, "d1", (None, f"text of {ns}"))
    a, b, c = (build_snapshot(store, ns) for ns in ("a", "b", "c"))
    cache = LexicalIndexCache(store, max_namespaces=2)
    index_a, index_b = cache.get(a), cache.get(b)
    assert cache.get(a) is index_a  # a is now used more recently than b
    index_c = cache.get(c)  # a third namespace: b goes
    assert cache.get(a) is index_a and cache.get(c) is index_c
    assert cache.get(b) is not index_b


def test_a_passage_deleted_since_the_snapshot_keeps_its_row_and_matches_nothing(store):
    _write(store, "a", "d1", (None, "apple banana"))
    _write(store, "a", "d2", (None, "apple cherry"))
    snapshot = build_snapshot(store, "a")
    store.delete_documents("a", ["d1"])
    index = LexicalIndexCache(store).get(snapshot)  # built after the delete, for the old snapshot
    assert index.size == 2  # rows stay aligned with snapshot.passage_ids
    assert index.rank("banana", 10) == []
    (row, _), *rest = index.rank("apple", 10)
    assert rest == []
    assert (
        store.get_passages("a", [snapshot.passage_ids[row]])[snapshot.passage_ids[row]].text == "apple cherry"
    )
