"""The mem0 baseline's call log: every call mem0 makes is kept, and a fact extraction mem0 cannot read is counted."""

from __future__ import annotations

import pytest

from evaluation.mem0_baseline import CallLog, _memory_list


class FakeLLM:
    """Stands in for mem0's LLM object: replies from a list, or raises."""

    def __init__(self, replies: list[object]) -> None:
        self.replies = replies

    def generate_response(self, messages, response_format=None):
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def test_the_log_counts_unreadable_extractions_and_errors() -> None:
    llm = FakeLLM(['{"memory": [{"text": "Lives in Osaka"}]}', "```json\n{\"memory\": []}\n```", "Sure! The user",
                   RuntimeError("HTTP 400: response_format refused")])
    log = CallLog()
    log.wrap(llm)
    for _ in range(3):
        llm.generate_response([{"role": "user", "content": "hi"}], response_format={"type": "json_object"})
    with pytest.raises(RuntimeError):
        llm.generate_response([{"role": "user", "content": "hi"}])
    assert [c.get("parsed") for c in log.calls] == [True, True, False, None]
    assert log.calls[0]["response_format"] == {"type": "json_object"} and "400" in log.calls[3]["error"]
    assert log.summary() == {"llm_calls": 4, "errors": 1, "unparsed": 1, "failure_rate": 0.5}


def test_memory_list_reads_replies_as_mem0_does() -> None:
    assert _memory_list('{"memory": ["a"]}') == ["a"]
    assert _memory_list('Here: {"memory": []} done') == []
    assert _memory_list('{"facts": []}') is None and _memory_list("no json") is None
