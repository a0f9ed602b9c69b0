"""Answer and retrieval metrics as pure functions: SQuAD normalisation, EM, F1, recall@k."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from agents.text import normalize_answer  # the agents' support check normalises answers the same way

__all__ = ["exact_match", "f1_score", "normalize_answer", "recall_at_k"]


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref:
        return float(pred == ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Token F1, best over the gold answers."""
    return max((_f1(prediction, g) for g in golds), default=0.0)


def recall_at_k(ranked_ids: Sequence[str], gold_ids: Sequence[str], k: int) -> float:
    """|gold ∩ top-k| / |gold|; 0 when there is no gold."""
    gold = set(gold_ids)
    if not gold:
        return 0.0
    return len(gold & set(ranked_ids[:k])) / len(gold)
