"""The worker's OpenAI conformance on a tiny random Qwen2 whose chat template takes tools: response_format and
tools decoded under a grammar, tool turns, content parts, logprobs, refusals by name, the error shape, models."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llm.engine import EngineConfig, EngineLLM
from llm.grammar import validate
from llm.local import TransformersLLM
from tests.harness import free_port
from tests.tiny_model import build_tiny_model

# A small Hermes-style template: tools listed in the system turn, calls as <tool_call> blocks, tool results as user.
TOOLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nTools:{% for t in tools %}\n{{ t | tojson }}{% endfor %}<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ 'user' if m['role'] == 'tool' else m['role'] }}\n"
    "{% if m['content'] %}{{ m['content'] }}{% endif %}"
    "{% for c in m.get('tool_calls') or [] %}<tool_call>\n{\"name\": \"{{ c['function']['name'] }}\", "
    "\"arguments\": {{ c['function']['arguments'] | tojson }}}\n</tool_call>{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
MSGS = [{"role": "user", "content": "Which town lies on the river Senn?"}]
WEATHER = {"type": "function", "function": {
    "name": "get_town", "description": "Look a town up.",
    "parameters": {"type": "object", "additionalProperties": False, "required": ["river"],
                   "properties": {"river": {"enum": ["Senn", "Amber"]}}}}}
SEARCH = {"type": "function", "function": {
    "name": "search", "parameters": {"type": "object", "additionalProperties": False, "required": ["hits"],
                                     "properties": {"hits": {"enum": [1, 2, 3]}}}}}
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["answer"],
          "properties": {"answer": {"enum": ["Tallow", "Paris"]}}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EngineLLM]]:
    import uvicorn

    from llm.worker import build_worker_app

    local = TransformersLLM(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"), device="cpu",
                            variant="fp32")
    local.tokenizer.chat_template = TOOLS_TEMPLATE
    llm = EngineLLM(local, EngineConfig(max_batch=4, kv_blocks=64, page_size=16, max_batch_tokens=96))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_worker_app(llm, "tiny"), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url, llm
    server.should_exit = True
    thread.join(timeout=5)
    llm.engine.close()


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json={"model": "tiny", **body}, timeout=60)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_an_unknown_model_is_404_naming_it_and_models_have_cards(served: tuple[str, EngineLLM]) -> None:
    url, _ = served
    error = error_of(post(url, {"model": "gpt-9", "messages": MSGS}), 404)
    assert "gpt-9" in error["message"] and error["param"] == "model" and error["code"] == "model_not_found"
    assert httpx.get(f"{url}/v1/models/tiny").json()["id"] == "tiny"
    assert "gpt-9" in error_of(httpx.get(f"{url}/v1/models/gpt-9"), 404)["message"]
    assert error_of(httpx.get(f"{url}/v1/nothing-here"), 404)["type"] == "not_found_error"


@pytest.mark.parametrize(("field", "value"), [("temperature", 0.7), ("n", 2), ("seed", 7), ("presence_penalty", 1.0),
                                              ("frequency_penalty", 0.5), ("logit_bias", {"5": 10})])
def test_what_needs_sampling_is_refused_by_name(served: tuple[str, EngineLLM], field: str, value: object) -> None:
    url, _ = served
    error = error_of(post(url, {"messages": MSGS, field: value}), 400)
    assert error["param"] == field and field in error["message"]
    if field in ("temperature", "n", "seed"):
        assert "greedily" in error["message"]


def test_text_parts_are_joined_and_an_image_part_is_refused_by_name(served: tuple[str, EngineLLM]) -> None:
    url, _ = served
    plain = post(url, {"messages": MSGS, "max_tokens": 8}).json()["choices"][0]["message"]["content"]
    text = MSGS[0]["content"]
    parts = [{"type": "text", "text": text[:10]}, {"type": "text", "text": text[10:]}]
    joined = post(url, {"messages": [{"role": "user", "content": parts}], "max_tokens": 8}).json()
    assert joined["choices"][0]["message"]["content"] == plain
    image = parts + [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    error = error_of(post(url, {"messages": [{"role": "user", "content": image}]}), 400)
    assert error["param"] == "messages[0].content[2]" and "image_url" in error["message"]


def test_response_format_json_schema_and_json_object_decode_under_a_grammar(served: tuple[str, EngineLLM]) -> None:
    url, llm = served
    fmt = {"type": "json_schema", "json_schema": {"name": "town", "schema": SCHEMA, "strict": True}}
    data = post(url, {"messages": MSGS, "max_tokens": 30, "response_format": fmt}).json()
    content = data["choices"][0]["message"]["content"]
    assert validate(content, SCHEMA) and data["choices"][0]["finish_reason"] == "stop"
    assert content == llm.structured(MSGS, SCHEMA, max_tokens=30).text  # the same grammar, the same tokens
    obj = post(url, {"messages": MSGS, "max_tokens": 60, "response_format": {"type": "json_object"}}).json()
    reply = obj["choices"][0]
    if reply["finish_reason"] == "stop":
        assert isinstance(json.loads(reply["message"]["content"]), dict)
    else:  # a random model may fill max_tokens inside the object; what it wrote is still an object's start
        assert reply["message"]["content"].startswith("{")
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "no-such-type"}}}
    assert error_of(post(url, {"messages": MSGS, "response_format": bad}), 400)["param"] == "response_format"


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "search"}}])
def test_tools_come_back_as_tool_calls(served: tuple[str, EngineLLM], choice: object) -> None:
    url, _ = served
    data = post(url, {"messages": MSGS, "max_tokens": 120, "tools": [WEATHER, SEARCH], "tool_choice": choice,
                      "parallel_tool_calls": False}).json()
    reply = data["choices"][0]
    assert reply["finish_reason"] == "tool_calls" and reply["message"]["content"] is None
    (call,) = reply["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    tool = {"get_town": WEATHER, "search": SEARCH}[call["function"]["name"]]
    validate(call["function"]["arguments"], tool["function"]["parameters"])
    if isinstance(choice, dict):
        assert call["function"]["name"] == "search"


def test_auto_and_none_and_a_tool_turn_round_trip(served: tuple[str, EngineLLM]) -> None:
    url, _ = served
    auto = post(url, {"messages": MSGS, "max_tokens": 40, "tools": [WEATHER]}).json()["choices"][0]
    if auto["finish_reason"] == "tool_calls":
        assert auto["message"]["tool_calls"][0]["function"]["name"] == "get_town"
    else:
        assert "<tool_call>" not in auto["message"]["content"]
    none = post(url, {"messages": MSGS, "max_tokens": 20, "tools": [WEATHER], "tool_choice": "none"}).json()
    assert "tool_calls" not in none["choices"][0]["message"] and none["choices"][0]["finish_reason"] != "tool_calls"
    turns = MSGS + [{"role": "assistant", "content": None, "refusal": None,
                     "tool_calls": [{"id": "call_1", "type": "function",
                                     "function": {"name": "get_town", "arguments": '{"river": "Senn"}'}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "Tallow"}]
    answer = post(url, {"messages": turns, "max_tokens": 8, "tools": [WEATHER], "tool_choice": "none"})
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
    error = error_of(post(url, {"messages": MSGS, "tools": [WEATHER],
                                "tool_choice": {"type": "function", "function": {"name": "fly"}}}), 400)
    assert error["param"] == "tool_choice" and "fly" in error["message"]


def test_a_streamed_tool_call_arrives_as_a_tool_calls_delta(served: tuple[str, EngineLLM]) -> None:
    url, _ = served
    body = {"model": "tiny", "messages": MSGS, "max_tokens": 120, "tools": [SEARCH], "tool_choice": "required",
            "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as response:
        events = [json.loads(line[5:]) for line in response.iter_lines()
                  if line.startswith("data:") and line != "data: [DONE]"]
    deltas = [e["choices"][0]["delta"] for e in events]
    assert not any(d.get("content") for d in deltas)
    (calls,) = [d["tool_calls"] for d in deltas if "tool_calls" in d]
    assert calls[0]["index"] == 0 and calls[0]["function"]["name"] == "search"
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_logprobs_come_from_the_engine_scores(served: tuple[str, EngineLLM]) -> None:
    url, _ = served
    data = post(url, {"messages": MSGS, "max_tokens": 6, "logprobs": True, "top_logprobs": 3}).json()
    reply = data["choices"][0]
    entries = reply["logprobs"]["content"]
    assert len(entries) == data["usage"]["completion_tokens"] == 6
    assert "".join(e["token"] for e in entries) == reply["message"]["content"]
    for e in entries:
        assert len(e["top_logprobs"]) == 3 and e["top_logprobs"][0]["token"] == e["token"]
        assert e["top_logprobs"][0]["logprob"] == pytest.approx(e["logprob"]) and e["logprob"] <= 0
        assert bytes(e["bytes"]).decode("utf-8", errors="replace") == e["token"]
    assert post(url, {"messages": MSGS, "max_tokens": 2}).json()["choices"][0]["logprobs"] is None
