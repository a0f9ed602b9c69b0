"""The recorded runs of naive, auto_rag, iter_retgen, retro_rag and hipporag replay identically: the same prompts
(a request never recorded fails), the same events (kind, explanation, data, LLM usage) and the same answers.

Two recordings (benchmarks/replay_equivalence.py `record`): every demo question with HashLLM, a stand-in that
explores the agents' branches, and, where it was recorded, two demo questions with the real default model. A
change to an agent's behaviour or to a sentence it writes fails here; when such a change is meant, record again
and say so in the commit."""

from __future__ import annotations

import copy

import pytest

from benchmarks import replay_equivalence as rq

FIXTURES = [f for f in (rq.HASH_FIXTURE, rq.FIXTURE) if f.exists()]


@pytest.fixture(scope="module", params=FIXTURES, ids=[f.name for f in FIXTURES])
def recording(request):
    return rq.load(request.param)


def test_the_hash_recording_is_there() -> None:
    assert rq.HASH_FIXTURE.exists()


def test_every_recorded_run_replays_identically(recording, tmp_path) -> None:
    assert rq.replay(recording, tmp_path) == ""


def test_a_changed_sentence_fails_the_replay(recording, tmp_path) -> None:
    """The comparison sees a one-word change in an event's explanation."""
    changed = copy.deepcopy(recording)
    changed["questions"] = changed["questions"][:1]
    changed["runs"] = [r for r in changed["runs"] if r["question"] == changed["questions"][0]]
    run = next(r for r in changed["runs"] if r["agent"] == "naive")
    run["events"][0]["explanation"] += " (changed)"
    assert "explanation" in rq.replay(changed, tmp_path, agents=["naive"])


def test_a_changed_prompt_is_a_replay_miss(recording) -> None:
    llm = rq.ReplayLLM(recording["calls"][rq.run_label("naive", recording["questions"][0])])
    with pytest.raises(rq.ReplayMiss):
        llm.chat([{"role": "user", "content": "a prompt no run sent"}], max_tokens=8)
