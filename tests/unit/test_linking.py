"""``link_facts`` on a hand-built snapshot: the score of a fact is

    cos(query, fact) + passage_bonus * max(dense score of the fact's passages)
                     + question_entity_bonus * [the fact names an entity the question names]

best first, ties by row, cut at ``top_k``; ``weight`` is the score min-max normalized over ALL
facts (not only the kept ones). Every expected number below is worked out by hand.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from service.retrieval.linking import LinkingParams, link_facts
from service.retrieval.ppr import TransitionMatrix
from service.retrieval.snapshot import Snapshot, name_key

# Nodes: three passages, then the entities.
P0, P1, P2, WARSAW, POLAND, KRAKOW, CHOPIN, NEW_YORK, YORK = range(9)
NAMES = {
    WARSAW: "Warsaw",
    POLAND: "Poland",
    KRAKOW: "Krakow",
    CHOPIN: "Chopin",
    NEW_YORK: "New York",
    YORK: "York",
}
QUERY = np.array([1.0, 0.0])


# (subject, object, unit vector, passage rows that state it). With QUERY = [1, 0] the cosine of
# a fact is simply its first coordinate.
FACTS = [
    (KRAKOW, POLAND, [0.8, 0.6], [0]),  # row 0: cos 0.8
    (WARSAW, POLAND, [0.6, 0.8], [1, 2]),  # row 1: cos 0.6, two passages
    (CHOPIN, WARSAW, [0.0, 1.0], [1]),  # row 2: cos 0.0, Warsaw as the OBJECT
]


def _snapshot(facts=FACTS) -> Snapshot:
    """The fields ``link_facts`` reads, filled the way ``build_snapshot`` fills them (the name
    index maps ``name_key(name)`` to entity nodes)."""
    n = 9
    name_index: dict[tuple[str, ...], list[int]] = {}
    for node, name in NAMES.items():
        name_index.setdefault(name_key(name), []).append(node)
    sources = [rows for *_, rows in facts]
    starts = np.zeros(len(facts) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([len(s) for s in sources])
    return Snapshot(
        namespace="ns",
        version=1,
        transitions=TransitionMatrix(n, []),
        node_ids=[f"node-{i}" for i in range(n)],
        passage_ids=["p0", "p1", "p2"],
        passage_matrix=np.zeros((3, 2)),
        passage_nodes=np.array([P0, P1, P2], dtype=np.int64),
        fact_ids=[f"fact-{i}" for i in range(len(facts))],
        fact_matrix=np.array([v for _, _, v, _ in facts], dtype=float).reshape(len(facts), 2),
        fact_subject_nodes=np.array([s for s, *_ in facts], dtype=np.int64),
        fact_object_nodes=np.array([o for _, o, *_ in facts], dtype=np.int64),
        fact_texts=[f"fact {i}" for i in range(len(facts))],
        fact_source_rows=np.array([r for s in sources for r in s], dtype=np.int64),
        fact_source_start=starts,
        entity_passage_counts=np.zeros(n),
        entity_names=dict(NAMES),
        name_index=name_index,
        max_name_tokens=max(len(k) for k in name_index),
    )


def _params(top_k: int = 10, passage_bonus: float = 0.0, question_entity_bonus: float = 0.0) -> LinkingParams:
    return LinkingParams(
        top_k=top_k, passage_bonus=passage_bonus, question_entity_bonus=question_entity_bonus
    )


def _link(params: LinkingParams, dense=(0.0, 0.0, 0.0), question: str = "", snapshot=None):
    snapshot = snapshot or _snapshot()
    facts = link_facts(snapshot, QUERY, np.array(dense, dtype=float), question, params)
    return [f.row for f in facts], [f.score for f in facts], [f.weight for f in facts]


def test_cosine_alone_orders_facts_and_weights_are_min_max_over_all_facts():
    # Scores are the cosines 0.8, 0.6, 0.0; min-max over all three: 0.8 -> 1, 0.6 -> 0.75, 0 -> 0.
    rows, scores, weights = _link(_params())
    assert rows == [0, 1, 2]
    assert scores == pytest.approx([0.8, 0.6, 0.0])
    assert weights == pytest.approx([1.0, 0.75, 0.0])


def test_top_k_cuts_the_list_but_weights_still_use_every_fact():
    # Only two are kept; the 0.0 fact that was cut still sets the minimum: 0.6 -> 0.75, not 0.
    rows, _, weights = _link(_params(top_k=2))
    assert rows == [0, 1]
    assert weights == pytest.approx([1.0, 0.75])
    assert _link(_params(top_k=1))[0] == [0]
    assert _link(_params(top_k=0))[0] == []
    assert _link(_params(top_k=-1))[0] == []  # not "all but the last"


def test_passage_bonus_adds_the_best_dense_score_among_the_facts_passages():
    # dense per passage row: [0.2, 0.4, 0.9]. Best dense score of each fact's passages:
    #   row 0 (passage 0): 0.2;  row 1 (passages 1 and 2): max(0.4, 0.9) = 0.9 (the first
    #   would be 0.4, the sum 1.3, the mean 0.65);  row 2 (passage 1): 0.4.
    # With beta = 0.5: row 0: 0.8 + 0.1 = 0.9; row 1: 0.6 + 0.45 = 1.05; row 2: 0.0 + 0.2 = 0.2.
    # The bonus lifts row 1 over row 0. Weights: (s - 0.2) / 0.85 -> 1, 0.7/0.85, 0.
    rows, scores, weights = _link(_params(passage_bonus=0.5), dense=[0.2, 0.4, 0.9])
    assert rows == [1, 0, 2]
    assert scores == pytest.approx([1.05, 0.9, 0.2])
    assert weights == pytest.approx([1.0, 0.7 / 0.85, 0.0])


def test_question_entity_bonus_goes_to_facts_naming_a_question_entity_as_subject_or_object():
    # The question names Warsaw: row 1 (Warsaw as subject) and row 2 (Warsaw as object) get
    # gamma = 0.25; row 0 (Krakow, Poland) does not. Scores: 0.8, 0.6 + 0.25 = 0.85,
    # 0.0 + 0.25 = 0.25 -> row 1 now beats row 0. Weights: (s - 0.25) / 0.6 -> 1, 0.55/0.6, 0.
    rows, scores, weights = _link(
        _params(question_entity_bonus=0.25), question="Which river flows through Warsaw?"
    )
    assert rows == [1, 0, 2]
    assert scores == pytest.approx([0.85, 0.8, 0.25])
    assert weights == pytest.approx([1.0, 0.55 / 0.6, 0.0])


def test_a_question_naming_no_entity_adds_no_bonus():
    # "Warsawian" and "Krakowski" only contain entity names inside a word: no match, so the
    # scores stay the plain cosines.
    _, scores, _ = _link(_params(question_entity_bonus=0.25), question="Is Warsawian food Krakowski?")
    assert scores == pytest.approx([0.8, 0.6, 0.0])


def test_question_entities_match_whole_runs_of_words_case_and_punctuation_insensitively():
    # Facts about New York (row 0) and York (row 1), equal cosine 0.5.
    facts = [(NEW_YORK, POLAND, [0.5, 0.75**0.5], [0]), (YORK, POLAND, [0.5, 0.75**0.5], [0])]
    snapshot = _snapshot(facts)
    params = _params(question_entity_bonus=0.25)
    # "NEW YORK?" names "New York" (two words, in a row) and "York" (the second word): both +0.25.
    assert _link(params, question="Snow in NEW YORK?", snapshot=snapshot)[1] == pytest.approx([0.75, 0.75])
    # "new ... york" apart names only "York": row 1 gets 0.75 and goes first.
    rows, scores, _ = _link(params, question="Is there new snow in york", snapshot=snapshot)
    assert rows == [1, 0] and scores == pytest.approx([0.75, 0.5])


def test_both_bonuses_add_up():
    # beta = 0.5 with dense [0.2, 0.4, 0.9] and gamma = 0.25 for a question naming Poland
    # (rows 0 and 1): row 0: 0.8 + 0.1 + 0.25 = 1.15; row 1: 0.6 + 0.45 + 0.25 = 1.3;
    # row 2: 0.0 + 0.2 = 0.2.
    rows, scores, _ = _link(
        _params(passage_bonus=0.5, question_entity_bonus=0.25), dense=[0.2, 0.4, 0.9], question="poland"
    )
    assert rows == [1, 0, 2]
    assert scores == pytest.approx([1.3, 1.15, 0.2])


def test_ties_are_broken_by_row_and_equal_scores_all_weigh_one():
    # Three facts with the same vector: same score, so row order; max == min, so weights are 1.
    facts = [(KRAKOW, POLAND, [0.6, 0.8], [0]) for _ in range(3)]
    rows, scores, weights = _link(_params(top_k=2), snapshot=_snapshot(facts))
    assert rows == [0, 1]
    assert scores == pytest.approx([0.6, 0.6])
    assert weights == [1.0, 1.0]


def test_exact_ties_go_to_the_shortest_statement_whatever_the_row():
    # Facts read from one sentence share its vector and tie; the shortest statement (the closest
    # entities) wins, then the text, never the row (rows follow ids that hash the namespace).
    facts = [(KRAKOW, POLAND, [0.6, 0.8], [0]) for _ in range(4)]
    snapshot = dataclasses.replace(
        _snapshot(facts),
        fact_texts=[
            "Krakow was royal capital of Poland until 1596",
            "Krakow in Poland",
            "Krakow lies in Poland",
            "Krakow in Polan",  # same length as row 1's statement minus one character
        ],
    )
    rows, _, _ = _link(_params(top_k=3), snapshot=snapshot)
    assert rows == [3, 1, 2]
    # same length: by text
    snapshot = dataclasses.replace(_snapshot(facts[:2]), fact_texts=["Krakow b", "Krakow a"])
    assert _link(_params(top_k=2), snapshot=snapshot)[0] == [1, 0]


def test_a_snapshot_without_facts_links_nothing():
    assert _link(_params(), snapshot=_snapshot([]))[0] == []


def test_top_rows_equals_the_full_sort_with_ties_broken_by_tie_rank():
    from service.retrieval.linking import top_rows

    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        scores = rng.integers(0, 6, n).astype(float)  # many exact ties
        tie_rank = rng.permutation(n)
        k = int(rng.integers(1, n + 3))
        expected = np.lexsort((tie_rank, -scores))[:k]
        assert list(top_rows(scores, tie_rank, k)) == list(expected)
