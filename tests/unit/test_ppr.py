"""The service's walk (``TransitionMatrix``): its semantics, and prpack's answer as reference."""

import numpy as np
import pytest

from service.retrieval.ppr import TransitionMatrix
from tests.support.reference_ppr import prpack_ppr


def _graph(n, edges, weights=None):
    return TransitionMatrix(
        n, [(a, b, w) for (a, b), w in zip(edges, weights or [1.0] * len(edges), strict=True)]
    )


def personalized_pagerank(graph: TransitionMatrix, reset, damping):
    return graph.personalized_pagerank(reset, damping)


def test_path_graph_mass_decays_with_distance_from_seed():
    g = _graph(5, [(0, 1), (1, 2), (2, 3), (3, 4)])
    scores = personalized_pagerank(g, np.array([1.0, 0, 0, 0, 0]), damping=0.5)
    assert scores.sum() == pytest.approx(1.0)
    assert list(np.argsort(-scores)) == [0, 1, 2, 3, 4]


def test_two_node_closed_form():
    # Undirected edge 0-1, restart to 0 with prob 1-d: p0 = (1-d) + d*p1, p1 = d*p0.
    d = 0.5
    scores = personalized_pagerank(_graph(2, [(0, 1)]), np.array([1.0, 0.0]), damping=d)
    p0 = (1 - d) / (1 - d * d)
    assert scores[0] == pytest.approx(p0, rel=1e-6)
    assert scores[1] == pytest.approx(d * p0, rel=1e-6)


def test_star_with_weights_prefers_heavier_edge():
    # Seed the hub; leaf 2 hangs off a 4x heavier edge than leaf 1.
    g = _graph(3, [(0, 1), (0, 2)], weights=[1.0, 4.0])
    scores = personalized_pagerank(g, np.array([1.0, 0, 0]), damping=0.5)
    assert scores[2] > scores[1] * 3.5


def test_bridge_between_two_seeds_outranks_node_as_far_from_one_seed():
    # Seeds 0 and 4. Node 2 is two hops from both (the multi-hop "bridge"); node 6 is two hops
    # from seed 0 only. PPR must prefer the bridge.
    g = _graph(7, [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6)])
    reset = np.array([1.0, 0, 0, 0, 1.0, 0, 0])
    scores = personalized_pagerank(g, reset, damping=0.5)
    assert scores[2] > scores[6]


def test_rejects_bad_reset_vectors():
    g = _graph(2, [(0, 1)])
    with pytest.raises(ValueError):
        personalized_pagerank(g, np.array([0.0, 0.0]), damping=0.5)
    with pytest.raises(ValueError):
        personalized_pagerank(g, np.array([1.0]), damping=0.5)


def test_power_iteration_matches_igraph_prpack_on_a_random_weighted_graph():
    rng = np.random.default_rng(7)
    n = 400
    merged: dict[tuple[int, int], float] = {}
    for a, b, w in zip(
        rng.integers(0, n, 1200), rng.integers(0, n, 1200), rng.random(1200) + 0.1, strict=True
    ):
        if a != b:
            key = (int(min(a, b)), int(max(a, b)))
            merged[key] = merged.get(key, 0.0) + float(w)
    edges = [(a, b, w) for (a, b), w in sorted(merged.items())]
    reset = np.zeros(n)
    reset[[3, 50, 399]] = [1.0, 0.5, 0.25]
    reference = prpack_ppr(n, [(a, b) for a, b, _ in edges], [w for *_, w in edges], reset, 0.5)
    fast = TransitionMatrix(n, edges).personalized_pagerank(reset, 0.5)
    assert np.abs(reference - fast).max() < 1e-9
    assert fast.sum() == pytest.approx(1.0)


def test_power_iteration_handles_isolated_vertices_like_prpack():
    edges = [(0, 1, 1.0), (1, 2, 2.0)]  # vertex 3 has no edges
    reset = np.array([0.5, 0.0, 0.0, 0.5])
    reference = prpack_ppr(4, [(0, 1), (1, 2)], [1.0, 2.0], reset, 0.5)
    fast = TransitionMatrix(4, edges).personalized_pagerank(reset, 0.5)
    assert np.abs(reference - fast).max() < 1e-9


def test_default_tolerance_of_the_query_stays_within_its_bound_of_the_converged_walk():
    # The query stops power iteration at ``retrieval.ppr_tolerance`` (L1 step); the answer is
    # then within tol * d / (1 - d) of the converged one in L1, so no entry moves more.
    from service.settings import RetrievalSettings

    tol = RetrievalSettings().ppr_tolerance
    rng = np.random.default_rng(11)
    n = 2_000
    edges = sorted(
        {
            (int(min(a, b)), int(max(a, b)))
            for a, b in zip(rng.integers(0, n, 8_000), rng.integers(0, n, 8_000), strict=True)
            if a != b
        }
    )
    g = TransitionMatrix(n, [(a, b, 1.0) for a, b in edges])
    reset = np.zeros(n)
    reset[rng.integers(0, n, 5)] = rng.random(5) + 0.1
    loose = g.personalized_pagerank(reset, 0.5, tol=tol)
    tight = g.personalized_pagerank(reset, 0.5, tol=1e-13)
    assert np.abs(loose - tight).sum() <= tol
    assert np.abs(loose - tight).sum() > 0  # it did stop early: the tolerance is in force
