"""OpenAICompatLLM against a tiny real HTTP server on 127.0.0.1 (and against a closed port)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
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


def test_choose_sends_structured_outputs_and_takes_an_exact_reply(server: FakeServer,
                                                                 llm: OpenAICompatLLM) -> None:
    server.reply = lambda body: (200, completion(body["structured_outputs"]["choice"][1]))
    choice = llm.choose(MSGS, ["Yes", "No"])
    assert choice.option == "No" and choice.constrained
    assert server.requests[0]["structured_outputs"] == {"choice": ["Yes", "No"]}
    assert "guided_choice" not in server.requests[0]
    assert server.requests[0]["max_tokens"] <= 64
    assert choice.scores["No"] > choice.scores["Yes"]


def test_choose_maps_free_text_by_prefix(server: FakeServer, llm: OpenAICompatLLM) -> None:
    server.reply = lambda body: (200, completion("yes, Paris is in France."))
    choice = llm.choose(MSGS, ["Yes", "No"])
    assert choice.option == "Yes" and not choice.constrained
    assert "structured_outputs" in server.requests[0] and server.requests[1]["logprobs"] is True


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


def test_a_slow_server_is_reported_as_slow_not_unreachable(server: FakeServer) -> None:
    server.delay = 1.0
    client = OpenAICompatLLM(server.url, "m", timeout=0.2)
    with pytest.raises(LLMError, match="is slow: it accepted the request but sent nothing for 0.2 s") as err:
        client.chat(MSGS)
    assert "cannot reach" not in str(err.value)
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


# -- recorded reply shapes, served through httpx.MockTransport -------------------------------------------------

VLLM_LOGPROBS_REPLY = {  # vLLM 0.12: free text with the first token's top_logprobs
    "id": "chatcmpl-9f1", "object": "chat.completion", "created": 1764000000, "model": "Qwen/Qwen2.5-0.5B-Instruct",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Search for the river first.",
                                         "refusal": None, "tool_calls": [], "reasoning_content": None},
                 "logprobs": {"content": [{"token": "Search", "logprob": -0.4, "bytes": [83, 101],
                                           "top_logprobs": [{"token": "Search", "logprob": -0.4, "bytes": [83]},
                                                            {"token": "Answer", "logprob": -1.3, "bytes": [65]},
                                                            {"token": "I", "logprob": -3.0, "bytes": [73]}]}]},
                 "finish_reason": "length", "stop_reason": None}],
    "usage": {"prompt_tokens": 30, "total_tokens": 46, "completion_tokens": 16, "prompt_tokens_details": None},
    "prompt_logprobs": None, "kv_transfer_params": None,
}
SERVE_422 = {"detail": "Unexpected fields in the request: {'structured_outputs'}"}  # transformers serve 5.x
SERVE_REPLY = {  # transformers serve ignores `logprobs` (logs a warning) and answers plain text
    "id": "req_0", "object": "chat.completion", "created": 1764000000, "model": "Qwen/Qwen2.5-0.5B-Instruct",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "answer: Paris"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34},
}


class Recorder:
    """A MockTransport handler that records each JSON body and answers from a list of (status, body)."""

    def __init__(self, *replies: tuple[int, Any]) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        status, body = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return httpx.Response(status, json=body)


def mocked(recorder: Any) -> OpenAICompatLLM:
    return OpenAICompatLLM("http://worker.test/v1", "m", transport=httpx.MockTransport(recorder))


def test_vllm_that_ignores_the_choice_is_ranked_by_logprobs() -> None:
    rec = Recorder((200, VLLM_LOGPROBS_REPLY))
    llm = mocked(rec)
    choice = llm.choose(MSGS, ["answer", "search"])
    assert choice.option == "search" and choice.constrained
    assert choice.scores == {"answer": -1.3, "search": -0.4}
    assert rec.bodies[0]["structured_outputs"] == {"choice": ["answer", "search"]}
    assert rec.bodies[1]["logprobs"] is True and rec.bodies[1]["top_logprobs"] == 20
    assert "structured_outputs" not in rec.bodies[1]
    assert (choice.prompt_tokens, choice.completion_tokens) == (30, 16)
    llm.choose(MSGS, ["answer", "search"])
    assert len(rec.bodies) == 3 and "structured_outputs" not in rec.bodies[2]  # learned: one request from now on


def test_transformers_serve_refusal_falls_back_to_a_parsed_unconstrained_reply() -> None:
    rec = Recorder((422, SERVE_422), (200, SERVE_REPLY))
    llm = mocked(rec)
    choice = llm.choose(MSGS, ["search", "answer"])
    assert choice.option == "answer" and not choice.constrained
    assert len(rec.bodies) == 2 and "structured_outputs" in rec.bodies[0] and "structured_outputs" not in rec.bodies[1]
    assert llm.chat(MSGS).text == "answer: Paris"


def test_a_server_refusing_logprobs_too_gets_a_plain_request() -> None:
    refusal = {"detail": "Unexpected fields in the request: {'logprobs', 'top_logprobs'}"}
    rec = Recorder((422, SERVE_422), (422, refusal), (200, SERVE_REPLY))
    choice = mocked(rec).choose(MSGS, ["search", "answer"])
    assert choice.option == "answer" and not choice.constrained
    assert "logprobs" not in rec.bodies[2] and "structured_outputs" not in rec.bodies[2]


def test_worker_option_scores_are_kept() -> None:
    reply = completion("answer")
    reply["choices"][0]["option_scores"] = {"search": -2.5, "answer": -0.25}
    rec = Recorder((200, reply))
    choice = mocked(rec).choose(MSGS, ["search", "answer"])
    assert choice.constrained and choice.scores == {"search": -2.5, "answer": -0.25}
    assert len(rec.bodies) == 1


def test_a_400_that_is_not_about_the_choice_is_an_error_not_a_fallback() -> None:
    too_long = {"object": "error", "message": "This model's maximum context length is 32768 tokens.",
                "type": "BadRequestError", "param": None, "code": 400}
    rec = Recorder((400, too_long))
    with pytest.raises(LLMError, match="maximum context length"):
        mocked(rec).choose(MSGS, ["a", "b"])
    assert len(rec.bodies) == 1


def test_the_client_reconnects_when_the_worker_comes_back() -> None:
    state = {"up": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if not state["up"]:
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return httpx.Response(200, json=completion("back"))

    llm = OpenAICompatLLM("http://worker.test/v1", "m", transport=httpx.MockTransport(handler))
    with pytest.raises(LLMError, match="cannot reach .*connection refused"):
        llm.chat(MSGS)
    state["up"] = True
    assert llm.chat(MSGS).text == "back"


def test_an_error_event_mid_stream_raises() -> None:
    body = (b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n'
            b'data: {"error": {"message": "the model engine stopped", "type": "engine_error"}}\n\n')
    llm = OpenAICompatLLM("http://worker.test/v1", "m", transport=httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"Content-Type": "text/event-stream"})))
    with pytest.raises(LLMError, match="engine stopped"):
        list(llm.stream(MSGS))


SCHEMA = {"type": "object", "required": ["verdict"], "additionalProperties": False,
          "properties": {"verdict": {"enum": ["yes", "no"]}}}


def test_structured_sends_response_format_json_schema_and_checks_the_reply() -> None:
    rec = Recorder((200, completion('{"verdict": "no"}')))
    out = mocked(rec).structured(MSGS, SCHEMA, max_tokens=20)
    assert out.text == '{"verdict": "no"}' and (out.prompt_tokens, out.completion_tokens) == (11, 3)
    sent = rec.bodies[0]
    assert sent["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True}}
    assert sent["max_tokens"] == 20 and sent["temperature"] == 0


def test_a_server_refusing_response_format_is_an_error_naming_the_field() -> None:
    rec = Recorder((400, {"error": {"message": "Unknown parameter: 'response_format'.", "type": "invalid_request_error",
                                    "param": "response_format", "code": None}}))
    with pytest.raises(LLMError, match="refused response_format"):
        mocked(rec).structured(MSGS, SCHEMA)


def test_a_server_ignoring_response_format_is_caught_not_trusted() -> None:
    for reply, match in ((completion("Sure! The verdict is no."), "did not honour response_format.*not JSON"),
                         (completion('{"verdict": "maybe"}'), "at verdict")):
        with pytest.raises(LLMError, match=match):
            mocked(Recorder((200, reply))).structured(MSGS, SCHEMA)
    cut = completion('{"verdict": ')
    cut["choices"][0]["finish_reason"] = "length"
    with pytest.raises(LLMError, match="max_tokens=256"):
        mocked(Recorder((200, cut))).structured(MSGS, SCHEMA)
