"""The walk's reset vector on a hand-built snapshot.

``entity_seeds``: each kept fact gives its subject and its object the fact's (min-max normalized)
``weight`` divided by the number of passages that mention the entity; shares add up.
``reset_vector``: those seeds, plus ``passage_node_weight * min_max(dense) ** passage_seed_power``
on each passage row's node. Every expected number below is worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.retrieval.linking import LinkedFact
from service.retrieval.ppr import TransitionMatrix
from service.retrieval.seeds import entity_seeds, reset_vector
from service.retrieval.snapshot import Snapshot

# Passage and entity nodes interleaved, so a mix-up of rows and nodes shows.
WARSAW, P0, POLAND, P1, CHOPIN, P2, ORPHAN = range(7)
# Passage row r is node PASSAGE_NODES[r] (not in node order on purpose).
PASSAGE_NODES = [P2, P0, P1]
# Passages mentioning each node: Warsaw 3, Poland 2, Chopin 1; ORPHAN 0 (and passages are 0).
COUNTS = [3.0, 0.0, 2.0, 0.0, 1.0, 0.0, 0.0]
FACTS = [(WARSAW, POLAND), (CHOPIN, WARSAW), (ORPHAN, POLAND)]  # (subject, object) per row


def _snapshot() -> Snapshot:
    n = len(COUNTS)
    return Snapshot(
        namespace="ns",
        version=1,
        transitions=TransitionMatrix(n, []),
        node_ids=[f"node-{i}" for i in range(n)],
        passage_ids=["p0", "p1", "p2"],
        passage_matrix=np.zeros((3, 2)),
        passage_nodes=np.array(PASSAGE_NODES, dtype=np.int64),
        fact_ids=[f"fact-{i}" for i in range(len(FACTS))],
        fact_matrix=np.zeros((len(FACTS), 2)),
        fact_subject_nodes=np.array([s for s, _ in FACTS], dtype=np.int64),
        fact_object_nodes=np.array([o for _, o in FACTS], dtype=np.int64),
        fact_texts=[f"fact {i}" for i in range(len(FACTS))],
        fact_source_rows=np.array([0, 1, 2], dtype=np.int64),
        fact_source_start=np.array([0, 1, 2, 3], dtype=np.int64),
        entity_passage_counts=np.array(COUNTS),
        entity_names={},
        name_index={},
        max_name_tokens=0,
    )


def test_each_fact_shares_its_weight_among_the_passages_mentioning_each_endpoint():
    # Row 0 (Warsaw, Poland) weight 1.0; row 1 (Chopin, Warsaw) weight 0.6. The raw scores
    # (0.9, 0.75) are NOT what is spread: the weight is.
    #   Warsaw: 1.0/3 + 0.6/3 = 1.6/3   (both facts name it; shares add up)
    #   Poland: 1.0/2 = 0.5
    #   Chopin: 0.6/1 = 0.6
    seeds = entity_seeds(_snapshot(), [LinkedFact(0, 0.9, 1.0), LinkedFact(1, 0.75, 0.6)])
    assert seeds.keys() == {WARSAW, POLAND, CHOPIN}
    assert seeds[WARSAW] == pytest.approx(1.6 / 3)
    assert seeds[POLAND] == pytest.approx(0.5)
    assert seeds[CHOPIN] == pytest.approx(0.6)


def test_an_entity_no_passage_mentions_gets_the_whole_weight():
    # Row 2 (ORPHAN, Poland) weight 0.5: ORPHAN's count is 0 -> 0.5 (no division by zero);
    # Poland: 0.5/2 = 0.25.
    seeds = entity_seeds(_snapshot(), [LinkedFact(2, 0.3, 0.5)])
    assert seeds == pytest.approx({ORPHAN: 0.5, POLAND: 0.25})


def test_no_facts_no_seeds():
    assert entity_seeds(_snapshot(), []) == {}


def test_reset_vector_puts_seeds_on_entities_and_powered_min_max_dense_on_passage_nodes():
    # dense per passage row [0.2, 0.6, 1.0] -> min-max [0, 0.5, 1] -> squared [0, 0.25, 1]
    # -> times 0.1: [0, 0.025, 0.1], on the rows' nodes P2, P0, P1.
    seeds = {WARSAW: 1.6 / 3, POLAND: 0.5, CHOPIN: 0.6}
    reset = reset_vector(_snapshot(), seeds, np.array([0.2, 0.6, 1.0]), 0.1, 2.0)
    expected = [0.0] * 7
    expected[WARSAW], expected[POLAND], expected[CHOPIN] = 1.6 / 3, 0.5, 0.6
    expected[P2], expected[P0], expected[P1] = 0.0, 0.025, 0.1
    assert reset.tolist() == pytest.approx(expected)


def test_passage_seed_power_one_keeps_the_min_max_scores_linear():
    # min-max [0, 0.5, 1] ** 1 * 0.1 -> [0, 0.05, 0.1] on P2, P0, P1; no entity seeds.
    reset = reset_vector(_snapshot(), {}, np.array([0.2, 0.6, 1.0]), 0.1, 1.0)
    assert reset.tolist() == pytest.approx([0.0, 0.05, 0.0, 0.1, 0.0, 0.0, 0.0])


def test_equal_dense_scores_give_every_passage_the_full_passage_weight():
    # max == min: min-max gives 1 everywhere, and 1 ** power = 1 -> 0.1 on every passage node.
    reset = reset_vector(_snapshot(), {CHOPIN: 0.6}, np.array([0.4, 0.4, 0.4]), 0.1, 3.0)
    assert reset.tolist() == pytest.approx([0.0, 0.1, 0.0, 0.1, 0.6, 0.1, 0.0])


@pytest.mark.parametrize(("dense", "weight"), [([0.2, 0.6, 1.0], 0.0), ([0.2, 0.6, 1.0], -0.1), ([], 0.1)])
def test_no_positive_passage_weight_or_no_dense_scores_leave_only_the_entity_seeds(dense, weight):
    # A weight <= 0 adds nothing (a negative one does not push passages below zero either).
    reset = reset_vector(_snapshot(), {WARSAW: 0.25, ORPHAN: 0.5}, np.array(dense), weight, 2.0)
    assert reset.tolist() == [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5]
