"""Synthetic snapshots (``retrieval.synthetic``) have 2Wiki's shape and a snapshot's invariants."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from service.retrieval.synthetic import Shape, planted_queries, synthetic_snapshot

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared/data/2wiki-corpus/corpus.json"


@pytest.fixture(scope="module")
def snapshot():
    return synthetic_snapshot(20_000, seed=1)


def test_per_passage_counts_follow_the_measured_sample(snapshot):
    shape = Shape.twowiki()
    n = len(snapshot.passage_ids)
    mean_facts, mean_vectors = shape.profiles[:, 1].mean(), shape.profiles[:, 2].mean()
    assert len(snapshot.fact_ids) / n == pytest.approx(mean_facts, rel=0.05)
    assert len(snapshot.fact_matrix) / n == pytest.approx(mean_vectors, rel=0.05)
    mentions = snapshot.entity_passage_counts[n:].sum()
    assert mentions / n == pytest.approx(shape.profiles[:, 0].mean(), rel=0.05)


def test_entities_grow_with_the_corpus_and_degrees_have_a_heavy_tail(snapshot):
    shape = Shape.twowiki()
    n = len(snapshot.passage_ids)
    degrees = snapshot.entity_passage_counts[n:]
    assert len(degrees) == pytest.approx(shape.entity_count(n), rel=0.05)
    assert 0.6 < float(np.mean(degrees == 1)) < shape.single_mention_share + 0.02
    assert degrees.max() > 100  # hubs, as in the corpus (1,053 passages mention its largest)


def test_snapshot_invariants(snapshot):
    n = len(snapshot.passage_ids)
    t = snapshot.transitions
    assert t.n == len(snapshot.node_ids)
    assert (t.adjacency != t.adjacency.T).nnz == 0
    assert t.adjacency.diagonal().sum() == 0
    starts = snapshot.fact_source_start
    assert (np.diff(starts) >= 1).all() and starts[-1] == len(snapshot.fact_source_rows)
    assert (snapshot.fact_subject_nodes != snapshot.fact_object_nodes).all()
    assert (snapshot.fact_subject_nodes >= n).all() and (snapshot.fact_object_nodes >= n).all()
    assert snapshot.fact_vector_rows is not None
    assert snapshot.fact_vector_rows.max() < len(snapshot.fact_matrix)
    norms = np.linalg.norm(snapshot.passage_matrix[:100], axis=1)
    assert norms == pytest.approx(np.ones(100), abs=1e-5)
    # Every fact's endpoints are mentioned by the passage stating it (a mention edge exists).
    rows = snapshot.fact_source_rows[starts[:-1]][:500]
    assert (t.adjacency[rows, snapshot.fact_subject_nodes[:500]] > 0).all()
    assert len(snapshot.fact_cosines(snapshot.passage_matrix[0])) == len(snapshot.fact_ids)


def test_planted_queries_are_as_close_to_their_passage_as_questions_are():
    snapshot = synthetic_snapshot(3_000, seed=2)
    queries = planted_queries(snapshot, 50, np.random.default_rng(0))
    best = (queries @ snapshot.passage_matrix.T).max(axis=1)
    assert float(best.mean()) == pytest.approx(0.55, abs=0.05)


@pytest.mark.data
@pytest.mark.skipif(not CORPUS.exists(), reason="needs ../shared/data/2wiki-corpus")
def test_the_embedded_shape_is_what_the_offline_extractor_reads_from_2wiki():
    spec = importlib.util.spec_from_file_location("walk_scale", REPO / "benchmarks/walk_scale.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    measured = module.measure_shape(CORPUS)
    assert measured["sample_matches_embedded"], json.dumps(measured)[:300]
    shape = Shape.twowiki()
    assert measured["single_mention_share"] == pytest.approx(shape.single_mention_share, abs=0.005)
    assert measured["tail_exponent"] == pytest.approx(shape.tail_exponent, abs=0.01)
    assert measured["entities_per_passage"] == pytest.approx(shape.entities_per_passage, abs=0.01)
    assert measured["heaps_exponent"] == pytest.approx(shape.heaps_exponent, abs=0.01)
