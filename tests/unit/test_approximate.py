"""The walk at scale (``retrieval.approximate``) against the exact walk on synthetic snapshots
shaped like 2Wiki: the approximate walk must find >= 95% of the exact walk's top-10 passages,
averaged over queries; below ``approximate_above`` nothing changes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from service.domain.models import Passage
from service.domain.records import QueryMode
from service.pipeline.query import Query, RetrievalParams
from service.retrieval.approximate import (
    ApproximateParams,
    walk_index,
)
from service.retrieval.approximate_walk import (
    approximate_dense,
    link_facts_approximate,
)
from service.retrieval.linking import LinkingParams, link_facts
from service.retrieval.synthetic import planted_queries, random_queries, synthetic_snapshot
from service.settings import RetrievalSettings

SIZE = 8_000


@pytest.fixture(scope="module")
def snapshot():
    return synthetic_snapshot(SIZE, seed=3)


class _Preset:
    name = "preset"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.next = np.zeros(dim, dtype=np.float32)

    def embed(self, texts):
        return self.next[None, :]


class _Store:
    def get_passages(self, namespace, ids):
        return {p: Passage(p, "doc", 0, None, "", np.zeros(0)) for p in ids}


class _Namespaces:
    def get_namespace(self, namespace):
        return None


class _Snapshots:
    def __init__(self, snapshot):
        self.snapshot = snapshot

    def get(self, namespace):
        return self.snapshot


def _ranker(snapshot, **settings):
    embedder = _Preset(snapshot.passage_matrix.shape[1])
    query = Query(
        namespaces=_Namespaces(),
        store=_Store(),
        snapshots=_Snapshots(snapshot),
        lexical=None,
        embedder=embedder,
        params=RetrievalParams.from_settings(RetrievalSettings(**settings)),
        default_mode=QueryMode.GRAPH,
        max_top_k=200,
    )
    rows = {p: r for r, p in enumerate(snapshot.passage_ids)}

    def rank(vector, question="", mode=QueryMode.GRAPH, top_k=10):
        embedder.next = vector
        result = query.rank("ns", question, top_k=top_k, mode=mode)
        return [rows[p.passage_id] for p in result.passages], result

    return rank


def _overlap(a, b):
    return len(set(a) & set(b)) / len(a)


@pytest.mark.parametrize("kind", ["planted", "random"])
def test_approximate_walk_finds_the_exact_top_ten(snapshot, kind):
    rng = np.random.default_rng(17)
    dim = snapshot.passage_matrix.shape[1]
    queries = planted_queries(snapshot, 30, rng) if kind == "planted" else random_queries(30, dim, rng)
    exact = _ranker(snapshot, approximate_above=None)
    approx = _ranker(snapshot, approximate_above=0)
    overlaps = []
    for q in queries:
        want, exact_result = exact(q)
        got, approx_result = approx(q)
        assert exact_result.fallback is None and approx_result.fallback is None
        assert set(approx_result.timings_ms) >= {"dense", "link", "seeds", "ppr"}
        overlaps.append(_overlap(want, got))
    assert np.mean(overlaps) >= 0.95


def test_at_or_below_the_threshold_the_walk_is_exact(snapshot):
    # approximate_above == the namespace's size: exact, to the float.
    q = planted_queries(snapshot, 1, np.random.default_rng(2))[0]
    exact, exact_result = _ranker(snapshot, approximate_above=None)(q, top_k=50)
    same, same_result = _ranker(snapshot, approximate_above=SIZE)(q, top_k=50)
    assert same == exact
    assert [p.score for p in same_result.passages] == [p.score for p in exact_result.passages]
    params = ApproximateParams.from_settings
    assert not params(RetrievalSettings(approximate_above=SIZE)).applies(snapshot)
    assert params(RetrievalSettings(approximate_above=SIZE - 1)).applies(snapshot)


def test_dense_mode_above_the_threshold_returns_the_exact_dense_top(snapshot):
    rng = np.random.default_rng(4)
    approx = _ranker(snapshot, approximate_above=0)
    for q in random_queries(10, snapshot.passage_matrix.shape[1], rng):
        got, _ = approx(q, mode=QueryMode.DENSE, top_k=20)
        dense = snapshot.passage_matrix @ q
        want = list(np.lexsort((np.arange(len(dense)), -dense))[:20])
        assert _overlap(want, got) >= 0.95
        assert got[0] == want[0]


def test_linking_over_every_fact_is_the_exact_linking(snapshot):
    # With candidate pools as large as the namespace, approximate linking scores every fact: the
    # same facts, scores and (min-max) weights as link_facts, question-entity bonus included.
    index = walk_index(snapshot)
    params = LinkingParams(top_k=3, passage_bonus=0.5, question_entity_bonus=0.15)
    everything = ApproximateParams(
        above=0,
        passage_candidates=SIZE,
        fact_candidates=len(snapshot.fact_matrix),
        link_passages=SIZE,
        push_epsilon=1e-6,
    )
    rng = np.random.default_rng(8)
    named = snapshot.entity_names[int(snapshot.fact_subject_nodes[5])]
    for i, q in enumerate(planted_queries(snapshot, 5, rng)):
        question = f"What about {named}?" if i % 2 else ""
        exact = link_facts(snapshot, q, snapshot.passage_matrix @ q, question, params)
        dense = approximate_dense(snapshot, index, q, SIZE)
        approx = link_facts_approximate(snapshot, index, q, dense, question, params, everything)
        assert [f.row for f in approx] == [f.row for f in exact]
        assert [f.score for f in approx] == pytest.approx([f.score for f in exact], abs=1e-5)
        assert [f.weight for f in approx] == pytest.approx([f.weight for f in exact], abs=1e-5)


def test_the_index_follows_rows_appended_to_the_snapshot():
    base = synthetic_snapshot(1500, seed=5, dim=32)
    index = walk_index(base)
    assert (index.passage_rows, index.fact_rows) == (1500, len(base.fact_ids))
    rng = np.random.default_rng(6)
    new_vector = random_unit_vectors_like(base, rng)
    grown = dataclasses.replace(
        base,
        passage_ids=[*base.passage_ids, "passage-new"],
        passage_matrix=np.vstack([base.passage_matrix, new_vector]),
        passage_nodes=np.append(base.passage_nodes, base.passage_nodes[0]),
    )
    assert grown.walk_index is index  # carried over by replace, as snapshot_delta does
    assert walk_index(grown) is index and index.passage_rows == 1501
    dense = approximate_dense(grown, index, new_vector[0], 5)
    assert dense.rows[0] == 1500


def random_unit_vectors_like(snapshot, rng):
    v = rng.standard_normal((1, snapshot.passage_matrix.shape[1])).astype(np.float32)
    return v / np.linalg.norm(v)


def test_facts_with_a_row_each_are_grouped_by_vector_like_shared_ones(snapshot):
    # build_snapshot keeps one vector row per fact: the index groups identical rows itself.
    rows = snapshot.fact_vector_rows
    own_rows = dataclasses.replace(
        snapshot, fact_matrix=snapshot.fact_matrix[rows], fact_vector_rows=None, walk_index=None
    )
    index = walk_index(own_rows)
    assert index._group_count == len(np.unique(rows))
    params = LinkingParams(top_k=3, passage_bonus=0.5, question_entity_bonus=0.15)
    everything = ApproximateParams(
        above=0,
        passage_candidates=SIZE,
        fact_candidates=len(snapshot.fact_matrix),
        link_passages=SIZE,
        push_epsilon=1e-6,
    )
    for q in planted_queries(own_rows, 3, np.random.default_rng(12)):
        exact = link_facts(own_rows, q, own_rows.passage_matrix @ q, "", params)
        dense = approximate_dense(own_rows, index, q, SIZE)
        approx = link_facts_approximate(own_rows, index, q, dense, "", params, everything)
        assert [f.row for f in approx] == [f.row for f in exact]
