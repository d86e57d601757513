"""Forward push (``push.forward_push``) against the exact walk (``TransitionMatrix``): the same
semantics, an error whose L1 norm is exactly the residual left, and the top of the ranking."""

from __future__ import annotations

import numpy as np
import pytest

from service.retrieval.ppr import TransitionMatrix
from service.retrieval.push import forward_push


def _random_graph(rng: np.random.Generator, n: int, m: int, isolated: int = 0) -> TransitionMatrix:
    merged: dict[tuple[int, int], float] = {}
    for a, b, w in zip(rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m) + 0.1, strict=True):
        if a != b:
            key = (int(min(a, b)), int(max(a, b)))
            merged[key] = merged.get(key, 0.0) + float(w)
    return TransitionMatrix(n + isolated, [(a, b, w) for (a, b), w in sorted(merged.items())])


def _dense(result, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[result.nodes] = result.mass
    return out


def _reset(n: int, nodes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    reset = np.zeros(n)
    np.add.at(reset, nodes, weights)
    return reset


@pytest.mark.parametrize("epsilon", [1e-4, 1e-5, 1e-6])
def test_error_is_the_residual_and_the_top_ten_matches_the_exact_walk(epsilon):
    rng = np.random.default_rng(11)
    graph = _random_graph(rng, 2000, 6000, isolated=3)
    n = graph.n
    overlaps = []
    for _ in range(25):
        nodes = rng.choice(n, 6, replace=False)
        weights = rng.random(6) + 0.01
        exact = graph.personalized_pagerank(_reset(n, nodes, weights), 0.5)
        pushed = forward_push(graph, nodes, weights, 0.5, epsilon=epsilon)
        estimate = _dense(pushed, n)
        gap = exact - estimate
        # The estimate never exceeds the exact walk, and what is missing is exactly the residual.
        assert gap.min() > -1e-12
        assert np.abs(gap).sum() == pytest.approx(pushed.residual, abs=1e-9)
        assert estimate.sum() + pushed.residual == pytest.approx(1.0, abs=1e-12)
        overlaps.append(len(set(np.argsort(-exact)[:10]) & set(np.argsort(-estimate)[:10])) / 10)
    assert np.mean(overlaps) >= 0.95


def test_per_vertex_error_is_bounded_by_epsilon_times_strength():
    # On an undirected graph without isolated vertices every vertex's error is at most
    # epsilon * strength: the bound the walk's settings are chosen by.
    rng = np.random.default_rng(5)
    graph = _random_graph(rng, 800, 4000)
    strength = np.asarray(graph.adjacency.sum(axis=1)).ravel()
    assert (strength > 0).all()
    epsilon = 1e-4
    for _ in range(10):
        nodes = rng.choice(graph.n, 4, replace=False)
        weights = rng.random(4) + 0.1
        exact = graph.personalized_pagerank(_reset(graph.n, nodes, weights), 0.5)
        gap = exact - _dense(forward_push(graph, nodes, weights, 0.5, epsilon=epsilon), graph.n)
        assert (gap <= epsilon * strength + 1e-12).all()


def test_smaller_epsilon_leaves_less_residual_for_more_work():
    rng = np.random.default_rng(2)
    graph = _random_graph(rng, 1000, 4000)
    nodes, weights = np.array([1, 2, 3]), np.array([1.0, 1.0, 1.0])
    coarse = forward_push(graph, nodes, weights, 0.5, epsilon=1e-4)
    fine = forward_push(graph, nodes, weights, 0.5, epsilon=1e-7)
    assert fine.residual < coarse.residual
    assert fine.pushes > coarse.pushes


def test_two_node_closed_form():
    d = 0.5
    pushed = forward_push(
        TransitionMatrix(2, [(0, 1, 1.0)]), np.array([0]), np.array([1.0]), d, epsilon=1e-12
    )
    p0 = (1 - d) / (1 - d * d)
    assert _dense(pushed, 2) == pytest.approx([p0, d * p0], abs=1e-10)


def test_isolated_vertices_give_their_mass_back_to_the_reset_vector_like_the_exact_walk():
    edges = [(0, 1, 1.0), (1, 2, 2.0)]  # vertex 3 has no edges
    graph = TransitionMatrix(4, edges)
    nodes, weights = np.array([0, 3]), np.array([0.5, 0.5])
    exact = graph.personalized_pagerank(_reset(4, nodes, weights), 0.5)
    pushed = forward_push(graph, nodes, weights, 0.5, epsilon=1e-12)
    assert _dense(pushed, 4) == pytest.approx(exact, abs=1e-10)
    # Seeded alone, an isolated vertex keeps all the mass.
    alone = forward_push(graph, np.array([3]), np.array([2.0]), 0.5, epsilon=1e-12)
    assert _dense(alone, 4) == pytest.approx([0, 0, 0, 1.0], abs=1e-10)


def test_repeated_seed_nodes_add_up_and_weights_are_normalized():
    rng = np.random.default_rng(9)
    graph = _random_graph(rng, 300, 900)
    once = forward_push(graph, np.array([4, 7]), np.array([2.0, 1.0]), 0.5, epsilon=1e-9)
    split = forward_push(graph, np.array([4, 7, 4]), np.array([0.5, 0.5, 0.5]), 0.5, epsilon=1e-9)
    assert _dense(once, graph.n) == pytest.approx(_dense(split, graph.n), abs=1e-9)


def test_only_the_neighbourhood_of_the_seeds_is_touched():
    # Two components: seeds in the first, the second never receives mass.
    edges = [(i, i + 1, 1.0) for i in range(9)] + [(i, i + 1, 1.0) for i in range(10, 19)]
    pushed = forward_push(TransitionMatrix(20, edges), np.array([0]), np.array([1.0]), 0.5, epsilon=1e-9)
    assert pushed.nodes.max() < 10


def test_rejects_bad_seeds():
    graph = TransitionMatrix(3, [(0, 1, 1.0)])
    with pytest.raises(ValueError):
        forward_push(graph, np.array([0]), np.array([0.0]), 0.5)
    with pytest.raises(ValueError):
        forward_push(graph, np.array([0]), np.array([-1.0]), 0.5)
    with pytest.raises(ValueError):
        forward_push(graph, np.array([3]), np.array([1.0]), 0.5)
    with pytest.raises(ValueError):
        forward_push(graph, np.array([0, 1]), np.array([1.0]), 0.5)
