"""The model worker: the batching engine behind an OpenAI-compatible HTTP API (FastAPI + uvicorn).

Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions (with or without `stream`). Decoding is always
greedy (temperature and top_p are accepted and ignored); `stop` ends generation where a string appears;
`usage` is filled. A constrained choice is asked with vLLM's field `structured_outputs: {"choice": [...]}` (the
older `guided_choice` list is accepted too): the reply's content is the option with the highest log-likelihood,
and every option's summed log-probability is returned in `choices[0].option_scores` ({option: logprob}).
A client that disconnects cancels its request; requests beyond the batch wait; one that can never fit gets 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from llm.base import LLMError
from llm.engine import EngineDied, EngineLLM, Generation, RequestTooLarge

STEP_SECONDS = 0.25  # how long one wait for tokens lasts before checking the client is still there


class ChatMessage(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str


class StructuredOutputs(BaseModel):
    """vLLM's structured outputs; only `choice` is supported."""

    model_config = ConfigDict(extra="forbid")
    choice: list[str] | None = None


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat completion request that the worker reads; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0)
    n: int = Field(default=1, ge=1, le=1)
    structured_outputs: StructuredOutputs | None = None
    guided_choice: list[str] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> list[str] | None:
        return [value] if isinstance(value, str) else value

    def options(self) -> list[str] | None:
        """The options of a constrained choice, if one is asked."""
        if self.structured_outputs is not None and self.structured_outputs.choice is not None:
            return self.structured_outputs.choice
        return self.guided_choice

    def limit(self, default: int) -> int:
        """The most tokens to generate."""
        return self.max_completion_tokens or self.max_tokens or default


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chunk(rid: str, model: str, created: int, delta: dict[str, Any], finish: str | None = None,
           usage: dict[str, int] | None = None) -> str:
    body: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def build_worker_app(llm: EngineLLM, model_name: str, default_max_tokens: int = 256) -> FastAPI:
    """The FastAPI app serving `llm` under the name `model_name`."""
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Each request waits for its tokens in a worker thread; anyio's default of 40 threads would queue the
        # requests of a batch larger than that behind each other.
        import anyio.to_thread

        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, 2 * llm.engine.config.max_batch + 8)
        yield

    app = FastAPI(title="ragscope model worker", lifespan=lifespan)

    @app.exception_handler(RequestTooLarge)
    async def _too_large(_: Request, exc: RequestTooLarge) -> JSONResponse:
        return JSONResponse(status_code=400, content={"error": {"message": str(exc), "type": "invalid_request_error"}})

    @app.exception_handler(LLMError)
    async def _engine_error(_: Request, exc: LLMError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": {"message": str(exc), "type": "engine_error"}})

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness and load: ok while the engine loop runs."""
        engine = llm.engine
        if not engine.alive():
            raise HTTPException(status_code=503, detail="the model engine is not running")
        return {"status": "ok", "model": model_name, "active_requests": engine.active, "restarts": engine.restarts,
                "max_batch": engine.config.max_batch, "kv_capacity_tokens": engine.config.capacity}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        """The one model this worker serves."""
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "ragscope"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request) -> Any:
        """OpenAI chat completions: greedy text, a stream of chunks, or a constrained choice with scores."""
        messages = [m.model_dump() for m in body.messages]
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        options = body.options()
        if options is not None:
            return await _choose(rid, created, messages, options, body.stream)
        gen = await run_in_threadpool(llm.start, messages, body.limit(default_max_tokens), body.stop)
        if body.stream:
            return StreamingResponse(_stream(rid, created, gen, request), media_type="text/event-stream")
        text = await _collect(gen, request)
        return {"id": rid, "object": "chat.completion", "created": created, "model": model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": gen.finish_reason}],
                "usage": _usage(gen.prompt_tokens, gen.completion_tokens)}

    async def _choose(rid: str, created: int, messages: list[dict[str, str]], options: list[str],
                      stream: bool) -> Any:
        if not options or any(not o for o in options):
            raise HTTPException(status_code=400, detail="structured_outputs.choice needs at least one non-empty option")
        choice = await run_in_threadpool(llm.choose, messages, options)
        usage = _usage(choice.prompt_tokens, choice.completion_tokens)
        if stream:
            async def one() -> AsyncIterator[str]:
                yield _chunk(rid, model_name, created, {"role": "assistant", "content": choice.option})
                yield _chunk(rid, model_name, created, {}, "stop", usage)
                yield "data: [DONE]\n\n"
            return StreamingResponse(one(), media_type="text/event-stream")
        return {"id": rid, "object": "chat.completion", "created": created, "model": model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": choice.option},
                             "finish_reason": "stop", "option_scores": choice.scores}],
                "usage": usage}

    async def _collect(gen: Generation, request: Request) -> str:
        parts: list[str] = []
        try:
            while not gen.done:
                parts.append(await run_in_threadpool(gen.collect, STEP_SECONDS))
                if await request.is_disconnected():
                    break
        finally:
            gen.cancel()
        return "".join(parts)

    async def _stream(rid: str, created: int, gen: Generation, request: Request) -> AsyncIterator[str]:
        try:
            yield _chunk(rid, model_name, created, {"role": "assistant"})
            while not gen.done:
                try:
                    piece = await run_in_threadpool(gen.step, STEP_SECONDS)
                except EngineDied as exc:
                    yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'engine_error'}})}\n\n"
                    return
                if piece:
                    yield _chunk(rid, model_name, created, {"content": piece})
                if await request.is_disconnected():
                    return
            yield _chunk(rid, model_name, created, {}, gen.finish_reason,
                         _usage(gen.prompt_tokens, gen.completion_tokens))
            yield "data: [DONE]\n\n"
        except asyncio.CancelledError:
            raise
        finally:
            gen.cancel()

    return app


def serve(llm: EngineLLM, model_name: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the worker until interrupted."""
    import uvicorn

    uvicorn.run(build_worker_app(llm, model_name), host=host, port=port, log_level="info")
