"""The dialogue bench: probes scored as the data's README says; per-turn prompt tokens recorded."""

from __future__ import annotations

import json

from evaluation.dialogues import Turn, read_dialogues, run_dialogue_bench, score_reply
from llm.fake import ScriptedLLM


def test_a_reply_is_right_with_the_expected_answer_and_without_the_stale_one() -> None:
    turn = Turn("What car do I drive?", ("red Volvo",), ("black Mazda",))
    assert score_reply("You drive a red Volvo.", turn) == (True, False)
    assert score_reply("A red Volvo, not the black Mazda.", turn) == (False, True)
    assert score_reply("A bicycle.", turn) == (False, False)


def test_bench_plays_each_dialogue_from_an_empty_memory(services_factory, tmp_path) -> None:
    path = tmp_path / "d.jsonl"
    turns = [{"user": "I live in Lisbon."}, {"user": "Tell me a joke."},
             {"user": "Where do I live?", "expect": ["Lisbon"], "stale": ["Porto"]}]
    path.write_text("\n".join(json.dumps({"id": f"d{i}", "turns": turns}) for i in range(2)))
    assert len(read_dialogues(path, limit=1)) == 1
    svc = services_factory(llm=ScriptedLLM(default_reply="You live in Lisbon."))
    results = run_dialogue_bench(svc, ["window", "full_history"], path, show_progress=False)
    for agent in ("window", "full_history"):
        row = results["agents"][agent]
        assert row["probes"] == 2 and row["probe_accuracy"] == 1.0 and row["stale_answers"] == 0
        assert row["updated_accuracy"] == 1.0 and row["llm_calls"] == 1.0
        assert len(row["prompt_tokens_by_turn"]) == 3
    by_turn = results["agents"]["full_history"]["prompt_tokens_by_turn"]
    assert by_turn[0] < by_turn[1] < by_turn[2]  # the whole history is re-read every turn
