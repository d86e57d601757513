import igraph as ig
import numpy as np
import pytest

from service.retrieval.ppr import personalized_pagerank


def _graph(n, edges, weights=None):
    g = ig.Graph(n=n, edges=edges, directed=False)
    if weights is not None:
        g.es["weight"] = weights
    return g


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
