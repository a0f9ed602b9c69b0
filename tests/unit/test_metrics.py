"""SQuAD normalisation, EM/F1 and recall@k."""

from evaluation.metrics import exact_match, f1_score, normalize_answer, recall_at_k


def test_normalize_answer_drops_case_punctuation_and_articles() -> None:
    assert normalize_answer("The  Guild of Salt!") == "guild of salt"


def test_exact_match_is_best_over_golds() -> None:
    assert exact_match("the Tallow", ["Duvessa", "Tallow"]) == 1.0
    assert exact_match("Tallow town", ["Tallow"]) == 0.0


def test_f1_partial_overlap() -> None:
    assert f1_score("Tallow town", ["Tallow"]) == 2 * (0.5 * 1.0) / 1.5
    assert f1_score("", ["Tallow"]) == 0.0
    assert f1_score("x", ["a b", "x"]) == 1.0


def test_recall_at_k_uses_rank_order() -> None:
    ranked = ["a", "b", "c", "d"]
    assert recall_at_k(ranked, ["c", "a"], 2) == 0.5
    assert recall_at_k(ranked, ["c", "a"], 3) == 1.0
    assert recall_at_k(ranked, [], 3) == 0.0
