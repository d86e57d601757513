"""Evaluation metrics against hand-computed values."""

from __future__ import annotations

import pytest

from service.evaluation.metrics import exact_match, normalize_answer, percentile, recall_at_k, token_f1


def test_recall_at_k_counts_gold_in_the_top_k():
    ranked = ["a", "x", "b", "y", "c"]
    gold = {"a", "b", "c", "d"}
    assert recall_at_k(gold, ranked, 1) == 0.25
    assert recall_at_k(gold, ranked, 2) == 0.25
    assert recall_at_k(gold, ranked, 3) == 0.5
    assert recall_at_k(gold, ranked, 5) == 0.75
    assert recall_at_k(gold, ranked, 20) == 0.75  # k beyond the list: everything retrieved counts


def test_recall_treats_gold_as_a_set_and_needs_gold():
    assert recall_at_k(["a", "a", "b"], ["a"], 1) == 0.5
    assert recall_at_k([("T", "text")], [("T", "text")], 1) == 1.0
    with pytest.raises(ValueError):
        recall_at_k([], ["a"], 1)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Moss Sea.", "moss sea"),
        ("  An  apple,  a pear & the  end!", "apple pear end"),
        ("Theory of the atom", "theory of atom"),  # "the" inside words is kept
        ("A-ha", "aha"),
        ("", ""),
    ],
)
def test_squad_normalization(raw, normalized):
    assert normalize_answer(raw) == normalized


def test_exact_match_is_best_over_answer_and_aliases():
    assert exact_match("the Moss Sea", ["Moss Sea"]) == 1.0
    assert exact_match("Moss", ["Moss Sea"]) == 0.0
    assert exact_match("USA", ["United States", "USA"]) == 1.0
    assert exact_match("anything", []) == 0.0


def test_token_f1_hand_computed():
    # pred tokens {brevik, norway}, gold {brevik}: P = 1/2, R = 1 -> F1 = 2/3
    assert token_f1("Brevik, Norway", ["Brevik"]) == pytest.approx(2 / 3)
    # pred "cathedral school" vs gold "cathedral school of chartres": P = 1, R = 2/4 -> 2/3
    assert token_f1("the cathedral school", ["cathedral school of Chartres"]) == pytest.approx(2 / 3)
    # best over aliases: the alias matches exactly
    assert token_f1("Afrodisia Records", ["Afrodisia", "Afrodisia Records"]) == 1.0
    assert token_f1("Decca", ["Afrodisia"]) == 0.0
    # repeated tokens count with multiplicity: pred [b, b] vs gold [b]: 1 common, P = 1/2, R = 1
    assert token_f1("b b", ["b"]) == pytest.approx(2 / 3)


def test_percentile_linear_interpolation():
    values = [10.0, 20.0, 30.0, 40.0]
    # position (n - 1) * p / 100: p50 -> 1.5 -> 25; p95 -> 2.85 -> 30 + 0.85 * 10
    assert percentile(values, 50) == 25.0
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile([5.0], 95) == 5.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of input does not matter
    with pytest.raises(ValueError):
        percentile([], 50)
