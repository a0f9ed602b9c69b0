"""OpenAICompatLLM against a tiny real HTTP server on 127.0.0.1 (and against a closed port)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from llm.base import LLMError
from llm.openai_compat import OpenAICompatLLM, match_option

Handler = Callable[[dict[str, Any]], tuple[int, Any]]  # request json -> (status, json body | SSE lines)


class FakeServer:
    """Records every request; answers POST /chat/completions with `self.reply`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reply: Handler = lambda body: (200, completion("hello"))
        self.delay = 0.0
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "served-model", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                time.sleep(server.delay)
                status, payload = server.reply(body)
                try:
                    if isinstance(payload, list):
                        self._send_sse(status, payload)
                    else:
                        self._send(status, payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def _send(self, status: int, payload: Any) -> None:
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send_sse(self, status: int, lines: list[str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for line in lines:
                    self.wfile.write(f"{line}\n\n".encode())
                    self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(text: str, usage: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    if usage:
        body["usage"] = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    return body


def sse(pieces: list[str]) -> list[str]:
    events = [{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    events += [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    return [f"data: {json.dumps(e)}" for e in events] + [": keep-alive comment", "data: [DONE]"]


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    yield s
    s.stop()


@pytest.fixture()
def llm(server: FakeServer) -> Iterator[OpenAICompatLLM]:
    client = OpenAICompatLLM(server.url, "test-model", api_key="sk-test", timeout=5)
    yield client
    client.close()


MSGS = [{"role": "user", "content": "Say hello"}]


def test_chat_sends_a_greedy_request_and_reads_usage(server: FakeServer, llm: OpenAICompatLLM) -> None:
    out = llm.chat(MSGS, max_tokens=7, stop=["\n\n"])
    assert out.text == "hello"
    assert (out.prompt_tokens, out.completion_tokens) == (11, 3)
    sent = server.requests[0]
    assert sent["model"] == "test-model" and sent["messages"] == MSGS
    assert sent["temperature"] == 0 and sent["max_tokens"] == 7 and sent["stop"] == ["\n\n"]
    assert "stream" not in sent
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_chat_estimates_tokens_without_usage_and_cuts_stop(server: FakeServer, llm: OpenAICompatLLM) -> None:
    server.reply = lambda body: (200, completion("Answer: Paris\nObservation: more", usage=False))
    out = llm.chat(MSGS, stop=["Observation:"])
    assert out.text == "Answer: Paris\n"
    assert out.prompt_tokens > 0 and out.completion_tokens > 0


def test_stream_yields_sse_pieces(server: FakeServer, llm: OpenAICompatLLM) -> None:
    server.reply = lambda body: (200, sse(["Hel", "lo", " world"]))
    assert list(llm.stream(MSGS, max_tokens=5)) == ["Hel", "lo", " world"]
    assert server.requests[0]["stream"] is True


def test_choose_sends_guided_choice_and_takes_an_exact_reply(server: FakeServer, llm: OpenAICompatLLM) -> None:
    server.reply = lambda body: (200, completion(body["guided_choice"][1]))
    choice = llm.choose(MSGS, ["Yes", "No"])
    assert choice.option == "No" and choice.constrained
    assert server.requests[0]["guided_choice"] == ["Yes", "No"]
    assert server.requests[0]["max_tokens"] <= 64
    assert choice.scores["No"] > choice.scores["Yes"]


def test_choose_maps_free_text_by_prefix(server: FakeServer, llm: OpenAICompatLLM) -> None:
    server.reply = lambda body: (200, completion("yes, Paris is in France."))
    choice = llm.choose(MSGS, ["Yes", "No"])
    assert choice.option == "Yes" and not choice.constrained


def test_choose_falls_back_to_the_first_option(server: FakeServer, llm: OpenAICompatLLM) -> None:
    server.reply = lambda body: (200, completion("I would rather not say."))
    choice = llm.choose(MSGS, ["search", "answer"])
    assert choice.option == "search" and not choice.constrained


def test_match_option_rules() -> None:
    assert match_option("answer", ["search", "answer"]) == "answer"
    assert match_option(" ANSWER.", ["search", "answer"]) == "answer"
    assert match_option("No idea at all", ["No", "No idea"]) == "No idea"
    assert match_option("maybe", ["Yes", "No"]) is None


def test_model_defaults_to_what_the_server_lists(server: FakeServer) -> None:
    client = OpenAICompatLLM(server.url, None)
    client.chat(MSGS)
    assert server.requests[0]["model"] == "served-model"
    assert client.name == "openai:served-model"
    client.close()


def test_http_error_becomes_one_line_llm_error(server: FakeServer, llm: OpenAICompatLLM) -> None:
    server.reply = lambda body: (500, {"error": "model exploded"})
    with pytest.raises(LLMError, match="HTTP 500") as err:
        llm.chat(MSGS)
    assert "\n" not in str(err.value) and "model exploded" in str(err.value)
    with pytest.raises(LLMError, match="HTTP 500"):
        list(llm.stream(MSGS))


def test_timeout_becomes_llm_error(server: FakeServer) -> None:
    server.delay = 1.0
    client = OpenAICompatLLM(server.url, "m", timeout=0.2)
    with pytest.raises(LLMError, match="timed out"):
        client.chat(MSGS)
    client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_says_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = OpenAICompatLLM(url, "m")
    expected = f"cannot reach the OpenAI-compatible server at {url}: connection refused"
    for call in (lambda: client.chat(MSGS), lambda: list(client.stream(MSGS)),
                 lambda: client.choose(MSGS, ["a", "b"])):
        with pytest.raises(LLMError) as err:
            call()
        assert str(err.value) == expected
    client.close()
