"""Real clients against the real worker: `python app.py worker` on the bundled model (Qwen2.5-Coder-0.5B), driven
by the openai SDK (sync, async, streamed, `.parse()`, tools) and langchain-openai (invoke, stream, batch,
with_structured_output by json_schema and by function_calling, bind_tools). One worker process for the module."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, Field

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
MODEL = "bundled:qwen2.5-coder-0.5b-instruct"
CAPITAL = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}},
                   "required": ["city"], "additionalProperties": False}}}
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris right now?"}]


class Review(BaseModel):
    """The sentiment of a review, and why."""

    sentiment: Literal["positive", "negative", "neutral"]
    reason: str = Field(max_length=40)


REVIEW = "Classify this review: 'The soup was cold and the waiter was rude.'"


def _port() -> int:
    """A free port, from 8100-8199 first (where this project's sessions keep their servers), else any."""
    for port in range(8100, 8200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _port()
    home = tmp_path_factory.mktemp("worker-home")
    env = {**os.environ, "RAGSCOPE_HOME": str(home), "RAGSCOPE_LLM_MODEL": MODEL}
    log = (home / "worker.log").open("w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "worker", "--device", "cpu", "--port", str(port),
                             "--max-batch", "4", "--kv-blocks", "64"], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # a first run converts the bundled GGUF (about two minutes)
        while time.monotonic() < deadline:
            assert proc.poll() is None, (home / "worker.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the worker did not come up in 600 s")
        yield f"{base}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def client(worker: str):  # noqa: ANN201 - openai.OpenAI, imported here
    from openai import OpenAI

    with OpenAI(base_url=worker, api_key="not-needed", max_retries=0, timeout=300) as c:
        yield c


@pytest.fixture(scope="module")
def chat_model(worker: str):  # noqa: ANN201 - langchain_openai.ChatOpenAI
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=worker, api_key="not-needed", model=MODEL, max_tokens=24, temperature=0,
                      max_retries=0, timeout=300)


# -- the openai SDK ----------------------------------------------------------------------------------------


def test_sdk_sync_chat_and_models(client) -> None:  # noqa: ANN001
    reply = client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=8, temperature=0)
    assert "Paris" in reply.choices[0].message.content
    assert reply.usage.completion_tokens <= 8 and reply.choices[0].finish_reason in ("stop", "length")
    assert client.models.retrieve(MODEL).id == MODEL
    assert [m.id for m in client.models.list()] == [MODEL]


def test_sdk_errors_are_readable(client) -> None:  # noqa: ANN001
    import openai

    with pytest.raises(openai.NotFoundError, match="gpt-9"):
        client.chat.completions.create(model="gpt-9", messages=CAPITAL, max_tokens=4)
    with pytest.raises(openai.BadRequestError, match="temperature=0.8 is not supported.*greedily"):
        client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=4, temperature=0.8)
    with pytest.raises(openai.BadRequestError, match="image_url"):
        client.chat.completions.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}])


def test_sdk_async_and_streamed(worker: str, client) -> None:  # noqa: ANN001
    from openai import AsyncOpenAI

    async def both() -> list[str]:
        async with AsyncOpenAI(base_url=worker, api_key="x", max_retries=0, timeout=300) as aclient:
            replies = await asyncio.gather(*(aclient.chat.completions.create(
                model=MODEL, messages=CAPITAL, max_tokens=8) for _ in range(2)))
        return [r.choices[0].message.content for r in replies]

    texts = asyncio.run(both())
    assert texts[0] == texts[1] and "Paris" in texts[0]
    stream = client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=8, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == texts[0]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 8


def test_sdk_parse_with_a_pydantic_model(client) -> None:  # noqa: ANN001
    completion = client.chat.completions.parse(model=MODEL, messages=[{"role": "user", "content": REVIEW}],
                                               response_format=Review, max_tokens=40)
    review = completion.choices[0].message.parsed
    assert isinstance(review, Review) and review.sentiment == "negative"


def test_sdk_tools_and_a_tool_turn(client) -> None:  # noqa: ANN001
    reply = client.chat.completions.create(model=MODEL, messages=ASK_WEATHER, tools=[WEATHER_TOOL],
                                           tool_choice="required", max_tokens=40)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"].strip()
    turns = ASK_WEATHER + [choice.message.model_dump(exclude_none=True),
                           {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 24 degrees."}]
    answer = client.chat.completions.create(model=MODEL, messages=turns, tools=[WEATHER_TOOL], max_tokens=24)
    assert answer.choices[0].finish_reason in ("stop", "length", "tool_calls")
    assert answer.choices[0].message.content or answer.choices[0].message.tool_calls


def test_sdk_logprobs(client) -> None:  # noqa: ANN001
    reply = client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=4, logprobs=True,
                                           top_logprobs=2)
    entries = reply.choices[0].logprobs.content
    assert entries and all(len(e.top_logprobs) == 2 and e.logprob <= 0 for e in entries)
    assert "".join(e.token for e in entries) == reply.choices[0].message.content


# -- langchain-openai ------------------------------------------------------------------------------------


def test_langchain_invoke_stream_batch(chat_model) -> None:  # noqa: ANN001
    answer = chat_model.invoke("What is the capital of France? Answer in one word.")
    assert "Paris" in answer.content and answer.usage_metadata["output_tokens"] <= 24
    pieces = [c.content for c in chat_model.stream("What is the capital of France? Answer in one word.")]
    assert len(pieces) > 1 and "".join(pieces) == answer.content
    batch = chat_model.batch(["What is the capital of France? Answer in one word.",
                              "What is the capital of Italy? Answer in one word."])
    assert "Paris" in batch[0].content and "Rome" in batch[1].content


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_with_structured_output(chat_model, method: str) -> None:  # noqa: ANN001
    structured = chat_model.model_copy(update={"max_tokens": 60}).with_structured_output(Review, method=method)
    review = structured.invoke(REVIEW)
    assert isinstance(review, Review) and review.sentiment == "negative"


def test_langchain_bind_tools(chat_model) -> None:  # noqa: ANN001
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        return "Sunny"

    bound = chat_model.model_copy(update={"max_tokens": 40}).bind_tools([get_weather], tool_choice="required")
    message = bound.invoke("What is the weather in Paris right now?")
    assert message.tool_calls and message.tool_calls[0]["name"] == "get_weather"
    assert message.tool_calls[0]["args"]["city"].strip()
    streamed = None
    for chunk in bound.stream("What is the weather in Paris right now?"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed.tool_calls and streamed.tool_calls[0]["name"] == "get_weather"
