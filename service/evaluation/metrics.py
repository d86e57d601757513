"""Evaluation metrics, as HippoRAG defines them. Pure functions, no I/O.

- Recall@k: |gold passages among the top k| / |gold passages| for one question (a fraction in
  [0, 1]; the harness averages over questions and reports percentages).
- Exact match and token F1 after SQuAD normalization (lowercase, drop punctuation, drop the
  articles a/an/the, collapse whitespace), best over the answer and its aliases.
- Percentiles with numpy's ``linear`` interpolation (numpy's default): for sorted values
  ``v[0..n-1]`` the p-th percentile sits at position ``(n - 1) * p / 100``, interpolated
  linearly between the two neighbouring values.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def recall_at_k(gold: Iterable[Hashable], ranked: Sequence[Hashable], k: int) -> float:
    """Share of the gold items found in ``ranked[:k]``. Gold is a set (duplicates count once)."""
    gold_set = set(gold)
    if not gold_set:
        raise ValueError("recall is undefined without gold items")
    return len(gold_set & set(ranked[:k])) / len(gold_set)


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lowercase, remove punctuation, remove articles, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _exact(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def _f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, answers: Iterable[str]) -> float:
    """1.0 when the normalized prediction equals any normalized answer, else 0.0."""
    return max((_exact(prediction, a) for a in answers), default=0.0)


def token_f1(prediction: str, answers: Iterable[str]) -> float:
    """Best token-level F1 of the prediction against the answers (bag of normalized tokens)."""
    return max((_f1(prediction, a) for a in answers), default=0.0)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation (``numpy.percentile`` default)."""
    if len(values) == 0:
        raise ValueError("percentile of no values")
    return float(np.percentile(np.asarray(values, dtype=float), p, method="linear"))
