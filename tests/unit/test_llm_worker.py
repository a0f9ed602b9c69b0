"""The worker's HTTP contract on a tiny random Qwen2, served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from llm.engine import EngineConfig, EngineLLM
from llm.local import TransformersLLM
from llm.openai_compat import OpenAICompatLLM
from tests.tiny_model import build_tiny_model

MSGS = [{"role": "user", "content": "Which town lies on the river Senn?"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> TransformersLLM:
    return TransformersLLM(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"), device="cpu", variant="fp32")


@pytest.fixture(scope="module")
def served(local: TransformersLLM) -> Iterator[tuple[str, EngineLLM]]:
    import uvicorn

    from llm.worker import build_worker_app

    llm = EngineLLM(local, EngineConfig(max_batch=4, kv_blocks=48, page_size=16, max_batch_tokens=96))
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


class Direct:
    """Today's direct greedy loop on the served model, run with the engine paused (never two forwards at once)."""

    def __init__(self, local: TransformersLLM, llm: EngineLLM) -> None:
        self.local, self.llm = local, llm

    def chat(self, *args: object, **kwargs: object) -> object:
        with self.llm.engine.exclusive():
            return self.local.chat(*args, **kwargs)

    def choose(self, *args: object) -> object:
        with self.llm.engine.exclusive():
            return self.local.choose(*args)


@pytest.fixture()
def direct(local: TransformersLLM, served: tuple[str, EngineLLM]) -> Direct:
    return Direct(local, served[1])


def post(url: str, body: object, timeout: float | httpx.Timeout = 30) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=timeout)


def test_health_and_models(served: tuple[str, EngineLLM]) -> None:
    url, _ = served
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny" and health["max_batch"] == 4
    assert httpx.get(f"{url}/v1/models").json()["data"][0]["id"] == "tiny"


def test_chat_is_greedy_with_usage(served: tuple[str, EngineLLM], direct: Direct) -> None:
    url, _ = served
    data = post(url, {"model": "tiny", "messages": MSGS, "max_tokens": 12, "temperature": 0, "top_p": 0.9}).json()
    expected = direct.chat(MSGS, max_tokens=12)
    assert data["choices"][0]["message"]["content"] == expected.text
    assert data["usage"] == {"prompt_tokens": expected.prompt_tokens, "completion_tokens": 12,
                             "total_tokens": expected.prompt_tokens + 12}
    assert data["choices"][0]["finish_reason"] == "length"


def test_stop_ends_generation(served: tuple[str, EngineLLM], direct: Direct) -> None:
    url, _ = served
    free = direct.chat(MSGS, max_tokens=30).text
    data = post(url, {"messages": MSGS, "max_tokens": 30, "stop": free[5:8]}).json()
    assert data["choices"][0]["message"]["content"] == direct.chat(MSGS, max_tokens=30, stop=[free[5:8]]).text
    assert data["choices"][0]["finish_reason"] == "stop" and data["usage"]["completion_tokens"] < 30


def test_stream_sends_role_pieces_finish_then_done(served: tuple[str, EngineLLM], direct: Direct) -> None:
    url, _ = served
    with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=30,
                      json={"messages": MSGS, "max_tokens": 15, "stream": True}) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[5:]) for line in lines[:-1]]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [e["choices"][0]["delta"].get("content", "") for e in events[1:-1]]
    assert len(pieces) > 2 and "".join(pieces) == direct.chat(MSGS, max_tokens=15).text
    assert events[-1]["choices"][0]["finish_reason"] == "length" and "usage" not in events[-1]


def test_stream_usage_comes_in_a_last_chunk_when_asked(served: tuple[str, EngineLLM]) -> None:
    url, _ = served
    with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=30,
                      json={"messages": MSGS, "max_tokens": 5, "stream": True,
                            "stream_options": {"include_usage": True}}) as response:
        events = [json.loads(line[5:]) for line in response.iter_lines()
                  if line.startswith("data:") and line != "data: [DONE]"]
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 5
    assert events[-2]["choices"][0]["finish_reason"] == "length"


def test_choice_returns_the_best_option_with_scores(served: tuple[str, EngineLLM], direct: Direct) -> None:
    url, _ = served
    options = ["yes", "no", "search"]
    data = post(url, {"messages": MSGS, "structured_outputs": {"choice": options}}).json()
    direct = direct.choose(MSGS, options)
    choice = data["choices"][0]
    assert choice["message"]["content"] == direct.option
    assert choice["option_scores"] == pytest.approx(direct.scores)
    legacy = post(url, {"messages": MSGS, "guided_choice": options}).json()
    assert legacy["choices"][0]["message"]["content"] == direct.option


def test_our_client_talks_to_the_worker(served: tuple[str, EngineLLM], direct: Direct) -> None:
    url, _ = served
    client = OpenAICompatLLM(f"{url}/v1", None)
    options = ["yes", "no", "search"]
    choice = client.choose(MSGS, options)
    assert choice.constrained and choice.scores == pytest.approx(direct.choose(MSGS, options).scores)
    assert client.chat(MSGS, max_tokens=8).text == direct.chat(MSGS, max_tokens=8).text
    assert "".join(client.stream(MSGS, max_tokens=8)) == direct.chat(MSGS, max_tokens=8).text
    client.close()


def test_a_disconnected_client_cancels_its_request(served: tuple[str, EngineLLM]) -> None:
    url, llm = served
    with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=30,
                      json={"messages": MSGS, "max_tokens": 700, "stream": True}) as response:
        for line in response.iter_lines():
            if '"content"' in line and '"role"' not in line:
                break
        assert llm.engine.active == 1
    deadline = time.monotonic() + 10
    while llm.engine.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert llm.engine.active == 0
    body = {"messages": MSGS, "max_tokens": 700}
    with pytest.raises(httpx.ReadTimeout):
        post(url, body, timeout=0.5)
    assert llm.engine.active == 1
    deadline = time.monotonic() + 10
    while llm.engine.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert llm.engine.active == 0


def test_a_request_that_can_never_fit_gets_400(served: tuple[str, EngineLLM]) -> None:
    url, _ = served
    response = post(url, {"messages": MSGS, "max_tokens": 5000})
    assert response.status_code == 400
    assert "KV cache" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": "hello"}, "messages"),
        ({"messages": MSGS, "max_tokens": "many"}, "max_tokens"),
        ({"messages": MSGS, "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"messages": MSGS, "structured_outputs": {"regex": "a+"}}, "structured_outputs.regex"),
        ({"messages": MSGS, "frobnicate": True}, "frobnicate"),
        ({"messages": MSGS, "top_logprobs": 50, "logprobs": True}, "top_logprobs"),
    ],
)
def test_bad_requests_get_400_in_openai_shape_naming_the_field(served: tuple[str, EngineLLM], body: object,
                                                                 field: str) -> None:
    url, _ = served
    response = post(url, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["param"] == field and field.split(".")[-1] in error["message"]


def test_bad_json_gets_400_not_500(served: tuple[str, EngineLLM]) -> None:
    url, _ = served
    response = httpx.post(f"{url}/v1/chat/completions", content=b'{"messages": [', timeout=10,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "json" in response.json()["error"]["message"].lower()
    assert post(url, {"messages": MSGS, "structured_outputs": {"choice": []}}).status_code == 400
