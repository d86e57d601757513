"""``ann.VectorIndex``: ids are the caller's, later adds extend the index, and the exact best
match is always among the candidates (what the walk re-scores)."""

from __future__ import annotations

import numpy as np
import pytest

from service.retrieval.ann import VectorIndex, subquantizers
from service.retrieval.synthetic import random_unit_vectors


def test_two_dimensions_per_sub_quantizer():
    assert subquantizers(384) == 192
    assert subquantizers(16) == 8
    assert subquantizers(6) == 6  # 3 is odd: the next even divisor


def test_finds_the_exact_top_among_candidates_across_batches_with_caller_ids():
    rng = np.random.default_rng(0)
    vectors = random_unit_vectors(6000, 64, rng)
    ids = np.arange(6000) * 10 + 7  # not row numbers
    index = VectorIndex(64)
    index.add(ids[:4000], vectors[:4000])
    index.add(ids[4000:], vectors[4000:])  # encoded with the codebooks trained on the first batch
    assert len(index) == 6000
    queries = random_unit_vectors(40, 64, rng)
    recall = []
    for q in queries:
        exact = ids[np.argsort(-(vectors @ q))[:10]]
        found = index.search(q, 200)[0]
        assert exact[0] in found
        recall.append(len(set(exact) & set(found)) / 10)
    assert np.mean(recall) >= 0.95
    # A query that is one of the vectors (a strong match) finds it first or nearly.
    near = index.search(vectors[4321], 5)[0]
    assert ids[4321] in near


def test_searches_several_queries_at_once_and_caps_k():
    rng = np.random.default_rng(1)
    vectors = random_unit_vectors(50, 16, rng)
    index = VectorIndex(16)
    index.add(np.arange(50), vectors)
    both = index.search(np.stack([vectors[3], -vectors[3]]), 500)
    assert [len(r) for r in both] == [50, 50]
    assert both[0][0] == 3 and both[1][-1] == 3


def test_an_empty_index_finds_nothing_and_shapes_are_checked():
    index = VectorIndex(16)
    assert [len(r) for r in index.search(np.ones(16, dtype=np.float32), 5)] == [0]
    with pytest.raises(ValueError):
        index.add(np.arange(3), np.zeros((3, 8), dtype=np.float32))
    with pytest.raises(ValueError):
        index.add(np.arange(2), np.zeros((3, 16), dtype=np.float32))
    assert index.nbytes >= 0
