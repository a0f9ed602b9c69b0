"""How a step's numbers read: labels chosen by key and context, units, local clock times."""

from __future__ import annotations

import html

from ui.glossary import Context, clock, describe, looks_like_id, number, term


def test_a_label_is_chosen_by_its_context_first() -> None:
    assert term("log_odds", ["read"]).label == "answer vs 'unknown' (log-likelihood difference)"
    assert term("log_odds", ["read", "decision", "agree"]).label.startswith("answer vs 'unknown' in that passage")
    assert term("margin", ["read", "grounding"]).label.startswith("lead the answer needs over 'unknown'")
    assert term("score", ["memory_read", "thoughts"]).label == "similarity to your message (0 to 1)"
    assert term("same_turns").label == "turns the answer stayed the same"
    assert term("brand_new_key").label == "brand new key"  # unknown keys are spelled out, not shown raw


def test_numbers_read_as_similarities_differences_and_durations() -> None:
    assert number(0.4759, "sim") == "0.48" and number(1.0, "share") == "1.00"
    assert number(4.113, "loglik") == "+4.11" and number(-2, "loglik") == "-2.00"
    assert number(0.0068, "seconds") == "7 ms" and number(1.15, "seconds") == "1.1 s"
    assert number(3.0) == "3" and number(0.0012) == "0.0012"


def test_clock_times_are_the_readers_and_say_utc_when_unknown() -> None:
    assert clock(1796683061.724, "Asia/Tokyo") == "2026-12-08 07:37"
    assert clock(1796683061.724, "America/New_York") == "2026-12-07 17:37"
    assert clock(1796683061.724) == clock(1796683061.724, "Not/AZone") == "2026-12-07 22:37 UTC"


def test_describe_never_shows_json_or_ids_and_escapes_values() -> None:
    ctx = Context({"e9061546cc4a": "Mirrowdale"})
    md = describe({"passages": ["e9061546cc4a", "0123456789ab"], "skipped_seen": ["e9061546cc4a:0"],
                   "decision": {"option": "<b>x</b>", "scores": {"a": -1.0, "b": -2.5}}, "id": "e9061546cc4a",
                   "checks": [{"doc_id": "e9061546cc4a", "supported": True}]}, ctx)
    text = html.unescape(md)
    assert "- **passages**: 2 (“Mirrowdale”)" in text  # an id nobody can name is counted, not shown
    assert "- **passages skipped (already read)**: “Mirrowdale”" in text
    assert "score of each option (log-likelihood; higher = preferred)**: a: -1.00 · b: -2.50" in text
    assert "| “Mirrowdale” | yes |" in text and "{" not in text and "0123456789ab" not in text
    assert "<b>" not in md  # values are text, never markup
    assert looks_like_id("passage:e9061546cc4a:0") and not looks_like_id("Mirrowdale")
