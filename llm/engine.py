"""The model engine: one model serves every concurrent chat request, batched by transformers' continuous batching.

Requests join and leave the running batch between decode steps (paged KV cache, prefix block sharing); each
request has its own stop strings, max_tokens, streaming and cancellation. `EngineLLM` is the `LLM` on top of it.
Heavy imports (torch, transformers) happen here; import this module only when a local model is wanted.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import queue
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from llm import attention
from llm.base import LLM, Choice, Completion, LLMError, Message
from llm.grammar import check_complete, json_schema_grammar, validate
from llm.local import TransformersLLM
from llm.precision import exact_head
from llm.request_logits import PerRequestLogits, RequestLogits, install
from llm.stopping import StopCutter

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how often a waiting reader re-checks that the engine is alive


def use_grouped_kv_heads(device: str) -> bool:
    """On CPU, let SDPA read grouped K/V heads under a mask (transformers copies K/V to every query head otherwise).
    The engine's packed batch always has a mask; on CPU, torch's flash kernel takes the grouped heads with the same
    result, bit for bit, and a bf16 decode step of 8 requests spent 11% of its time in that copy. Not on CUDA, where
    a mask with grouped heads sends SDPA to its slow math kernel. A user's TRANSFORMERS_SDPA_FORCE_GQA=0 is kept."""
    if not device.startswith("cpu"):
        return False
    from settings import let_sdpa_read_grouped_kv_heads

    return let_sdpa_read_grouped_kv_heads()


def _start_inference_loop(manager: Any) -> None:
    """Start the library's loop thread; it runs in the inference mode of the thread that starts it."""
    with torch.inference_mode():
        manager.start()


def _close_if_alive(ref: weakref.ref[BatchEngine]) -> None:
    engine = ref()
    if engine is not None:
        engine.close()


class RequestTooLarge(LLMError):
    """A request that can never fit the engine's KV cache or the model's context."""


class EngineDied(LLMError):
    """The generation loop stopped while a request was in flight."""


@dataclass(frozen=True)
class EngineConfig:
    """Sizes of the batching engine; set them always (on CPU the library's defaults take 60% of RAM)."""

    max_batch: int = 16  # requests decoded together in one step
    kv_blocks: int = 256  # KV cache capacity in blocks of `page_size` tokens, shared by all requests
    page_size: int = 64  # tokens per cache block; prefix sharing reuses whole blocks
    max_batch_tokens: int = 512  # tokens in one forward pass (long prompts are prefilled in chunks of this)
    cuda_graph: bool | None = None  # replay CUDA graphs for the forward passes (None: the library decides; CPU: off)
    async_batching: bool | None = None  # prepare the next batch while the GPU runs this one (None: library decides)
    compile_level: int = 0  # GPU: torch.compile the forward passes (0 off, up to 3; longer warm-up)
    attention: str = "sdpa"  # "sdpa" (a masked packed batch) or "varlen" (torch's FlashAttention varlen; CUDA)

    @property
    def capacity(self) -> int:
        """Tokens the KV cache holds in all."""
        return self.kv_blocks * self.page_size


class Handle:
    """One request inside the engine: its cumulative generated tokens arrive on a queue."""

    def __init__(self, engine: BatchEngine, request_id: str, prompt_tokens: int) -> None:
        self.engine = engine
        self.request_id = request_id
        self.prompt_tokens = prompt_tokens
        self.updates: queue.Queue[Any] = queue.Queue()
        self.settled = threading.Event()  # set once the last update (finished or failed) is queued
        self.finished = False

    def push(self, item: tuple[list[int], bool] | BaseException) -> None:
        """Queue an update from the engine (the cumulative tokens and whether they are final, or an error)."""
        self.updates.put(item)
        if isinstance(item, BaseException) or item[1]:
            self.settled.set()

    def next_tokens(self, timeout: float | None) -> tuple[list[int], bool] | None:
        """The latest generated tokens and whether the request is finished; None if nothing came in `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = POLL_SECONDS if deadline is None else min(POLL_SECONDS, max(0.0, deadline - time.monotonic()))
            try:
                item = self.updates.get(timeout=wait)
            except queue.Empty:
                if not self.engine.alive() and self.updates.empty():
                    raise EngineDied("the model engine stopped while this request was running; it is restarting, "
                                     "please retry") from None
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            while not self.updates.empty() and not isinstance(item, BaseException):  # keep only the latest state
                nxt = self.updates.get_nowait()
                item = nxt
            if isinstance(item, BaseException):
                self.finished = True
                raise item
            tokens, done = item
            self.finished = done
            return tokens, done

    def cancel(self) -> None:
        """Stop generating for this request and free its cache blocks."""
        if not self.finished:
            self.finished = True
            self.engine.cancel(self.request_id)


class BatchEngine:
    """Owns a model's continuous-batching manager, routes its outputs to handles, restarts it if it dies."""

    def __init__(self, model: Any, eos_ids: set[int], config: EngineConfig, max_context: int | None = None) -> None:
        from transformers import GenerationConfig

        self.model = model
        self.config = config
        self.eos_ids = sorted(eos_ids)
        self.max_context = max_context or int(getattr(model.config, "max_position_embeddings", 0) or 0) or None
        self._generation_config = GenerationConfig(do_sample=False, eos_token_id=self.eos_ids or -1)
        self._handles: dict[str, Handle] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = False
        self.restarts = 0
        self.submitted_prompt_tokens = 0
        vocab = int(getattr(model.config.get_text_config(), "vocab_size", 0) or model.config.vocab_size)
        self.per_request_logits = PerRequestLogits(vocab, config.max_batch, lambda: exact_head(model))
        self._manager = self._start_manager()
        self._router = threading.Thread(target=self._route, name="engine-router", daemon=True)
        self._router.start()
        atexit.register(_close_if_alive, weakref.ref(self))  # a clean stop before the interpreter finalizes

    def _start_manager(self) -> Any:
        from transformers import ContinuousBatchingConfig

        extra: dict[str, Any] = {}
        if self.config.attention == "varlen":
            # Each request attends over its own cache only; no decode fast path (that one needs flash-attn's
            # kvcache kernel), so every step goes through the varlen call.
            # Set on the config directly: `set_attn_implementation` would look for the flash-attn package or a Hub
            # kernel for any name containing "flash".
            self.model.config._attn_implementation = attention.register(str(self.model.device))
            extra["max_blocks_per_request"] = 0
        elif self.config.attention != "sdpa":
            raise ValueError(f"unknown engine attention {self.config.attention!r}: use sdpa or varlen")
        else:
            use_grouped_kv_heads(str(self.model.device))
        cb = ContinuousBatchingConfig(
            num_blocks=self.config.kv_blocks, max_batch_tokens=self.config.max_batch_tokens,
            page_size=self.config.page_size, max_requests_per_batch=self.config.max_batch,
            allow_block_sharing=True, auto_switch_to_flash=False,
            use_cuda_graph=self.config.cuda_graph, use_async_batching=self.config.async_batching,
            default_compile_level=self.config.compile_level, **extra,
        )
        with torch.inference_mode():
            manager = self.model.init_continuous_batching(generation_config=self._generation_config,
                                                          continuous_batching_config=cb)
            if self.per_request_logits_refusal() is None:  # a CUDA-graph engine stays exactly as the library runs it
                install(manager, self.per_request_logits)
            # started from a daemon thread, the library's loop thread is a daemon too (threads inherit it), so an
            # open engine never keeps the interpreter from exiting
            starter = threading.Thread(target=_start_inference_loop, args=(manager,), name="engine-start",
                                       daemon=True)
            starter.start()
            starter.join()
        return manager

    def alive(self) -> bool:
        """True while the generation loop runs."""
        return not self._closed and self._manager.is_running()

    @property
    def active(self) -> int:
        """Requests in flight."""
        with self._lock:
            return len(self._handles)

    def check_fits(self, prompt_tokens: int, max_tokens: int) -> None:
        """Raise RequestTooLarge when a request could never be served."""
        need = prompt_tokens + max_tokens
        if need > self.config.capacity:
            raise RequestTooLarge(
                f"this request needs {need} tokens of KV cache ({prompt_tokens} prompt + {max_tokens} max_tokens) "
                f"but the engine holds at most {self.config.capacity} ({self.config.kv_blocks} blocks of "
                f"{self.config.page_size}); shorten the prompt, lower max_tokens, or raise the KV blocks")
        if self.max_context is not None and need > self.max_context:
            raise RequestTooLarge(f"this request needs {need} tokens ({prompt_tokens} prompt + {max_tokens} "
                                  f"max_tokens) but the model's context is {self.max_context} tokens")

    def per_request_logits_refusal(self) -> str | None:
        """Why this engine cannot mask or record a request's logits (None when it can): a grammar has to see each
        token before the next step is prepared, which CUDA graphs, async batching and compiled steps do not allow."""
        on = [name for name, value in (("RAGSCOPE_ENGINE_CUDA_GRAPH", self.config.cuda_graph),
                                       ("async batching", self.config.async_batching),
                                       ("compile_level", self.config.compile_level)) if value]
        if on:
            return (f"this engine runs with {', '.join(on)} on, where a request's logits cannot be masked or read; "
                    "turn it off (RAGSCOPE_ENGINE_CUDA_GRAPH=off) for grammars and logprobs")
        return None

    def submit(self, prompt_ids: list[int], max_tokens: int, logits: RequestLogits | None = None) -> Handle:
        """Queue one greedy generation; returns its handle at once (it waits in the engine if the batch is full).
        `logits`: a grammar to decode under and/or log-probabilities to record, for this request alone."""
        if logits is not None and (refusal := self.per_request_logits_refusal()):
            raise LLMError(refusal)
        if max_tokens < 1:
            raise RequestTooLarge("max_tokens must be at least 1")
        if not prompt_ids:
            raise RequestTooLarge("the prompt is empty")
        self.check_fits(len(prompt_ids), max_tokens)
        if self._closed:
            raise LLMError("the model engine is closed")
        request_id = f"r{next(self._ids)}"
        handle = Handle(self, request_id, len(prompt_ids))
        with self._lock:
            self._handles[request_id] = handle
            self.submitted_prompt_tokens += len(prompt_ids)
        if logits is not None:
            self.per_request_logits.register(request_id, logits)
        accepted = self._manager.add_request(list(prompt_ids), request_id=request_id, max_new_tokens=max_tokens,
                                             streaming=True, eos_token_id=self.eos_ids or -1)
        if accepted is None:
            with self._lock:
                self._handles.pop(request_id, None)
            self.per_request_logits.forget(request_id)
            raise EngineDied("the model engine is restarting; please retry")
        return handle

    def cancel(self, request_id: str) -> None:
        """Cancel a request (no more outputs are delivered for it)."""
        with self._lock:
            self._handles.pop(request_id, None)
        self._manager.cancel_request(request_id)
        self.per_request_logits.forget(request_id)

    def _route(self) -> None:
        """Deliver each output to its handle; restart the loop when it dies, failing what was in flight."""
        while not self._closed:
            manager = self._manager
            output = manager.get_result(timeout=POLL_SECONDS)
            if output is not None:
                self._deliver(output)
                continue
            if not self._closed and not manager.is_running():
                self._restart(manager)

    def _deliver(self, output: Any) -> None:
        with self._lock:
            handle = self._handles.get(output.request_id)
            if handle is not None and output.is_finished():
                del self._handles[output.request_id]
        if output.is_finished() or output.error is not None:
            self.per_request_logits.forget(output.request_id)
        if handle is None:
            return
        if output.error is not None:
            handle.push(EngineDied(f"the model engine failed this request: {output.error}"))
        else:
            handle.push((list(output.generated_tokens), output.is_finished()))

    def _restart(self, dead: Any) -> None:
        """Fail every request still waiting on the dead loop, then start a fresh manager."""
        error = getattr(dead.background_thread_status, "fatal_error", None)
        log.error("model engine loop stopped (%s); restarting it", error)
        while (output := dead.get_result(timeout=0)) is not None:  # deliver what it produced before dying
            self._deliver(output)
        with self._lock:
            handles, self._handles = list(self._handles.values()), {}
        self.per_request_logits.forget()
        for handle in handles:
            handle.push(EngineDied(f"the model engine stopped ({error or 'no reason given'}) while this "
                                          "request was running; it was restarted, please retry"))
        try:
            dead.stop(block=True, timeout=1)
        except Exception:  # noqa: BLE001 - a dead loop may not stop cleanly; a new one is started anyway
            log.exception("stopping the dead engine loop failed")
        self._manager = self._start_manager()
        self.restarts += 1

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Pause the loop between steps so the caller can run the model alone (forwards from two threads on one
        model corrupt each other's results); in-flight requests resume afterwards, cache kept."""
        manager = self._manager
        if not manager.is_running():
            yield
            return
        with manager.pause():
            yield

    def close(self) -> None:
        """Stop the loop (requests in flight fail) and the router; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._manager.is_running():
            self._manager.stop(block=True, timeout=5, hard_stop=True)
        self._router.join(timeout=2)
        with self._lock:
            handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            handle.push(EngineDied("the model engine was closed"))


class Generation:
    """One chat request's text: pieces as tokens arrive, cut at the first stop string (which ends generation)."""

    def __init__(self, handle: Handle, tokenizer: Any, stop: Sequence[str] | None, eos_ids: set[int],
                 logits: RequestLogits | None = None) -> None:
        self.handle = handle
        self.logits = logits  # the grammar and the recorded log-probabilities, when the request asked for them
        self.tokenizer = tokenizer
        self.stops = [s for s in (stop or ()) if s]
        self.eos_ids = eos_ids
        self.prompt_tokens = handle.prompt_tokens
        self.completion_tokens = 0
        self.finish_reason: str | None = None  # "stop" (EOS or a stop string) | "length"
        self.tokens: list[int] = []  # every token generated so far
        self._cutter = StopCutter(lambda ids: tokenizer.decode(ids, skip_special_tokens=True), self.stops)

    @property
    def done(self) -> bool:
        """True once the reply is complete."""
        return self.finish_reason is not None

    def step(self, timeout: float | None = None) -> str:
        """The new text since the last call (may be ''); waits up to `timeout` for tokens."""
        if self.done:
            return ""
        update = self.handle.next_tokens(timeout)
        if update is None:
            return ""
        tokens, finished = update
        self.tokens = tokens
        parts = []
        if self.stops:  # one token at a time, exactly as the direct loop does, so generation ends at the stop
            while self.completion_tokens < len(tokens) and not self._cutter.stopped:
                self.completion_tokens += 1
                parts.append(self._cutter.update(tokens[:self.completion_tokens]))
        else:  # nothing to cut at: decode once per update, not once per token
            self.completion_tokens = len(tokens)
            parts.append(self._cutter.update(tokens))
        if self._cutter.stopped:
            self.handle.cancel()
            self.finish_reason = "stop"
        elif finished:
            self.finish_reason = "stop" if tokens and tokens[-1] in self.eos_ids else "length"
            parts.append(self._cutter.finish())
        return "".join(parts)

    def collect(self, timeout: float) -> str:
        """The new text since the last call, waiting up to `timeout` for the reply to finish. Without stop strings
        the caller wakes once, when the reply is complete, instead of once per token (64 requests waking per
        token kept the worker's threads busy)."""
        if self.stops:
            deadline = time.monotonic() + timeout
            parts = []
            while not self.done and (left := deadline - time.monotonic()) > 0:
                parts.append(self.step(left))
            return "".join(parts)
        if not self.done:
            self.handle.settled.wait(timeout)
        return self.step(0)

    def pieces(self) -> Iterator[str]:
        """Yield text pieces until the reply is complete; cancels the request if the caller stops early."""
        try:
            while not self.done:
                piece = self.step(timeout=None)
                if piece:
                    yield piece
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop generating (no-op once finished)."""
        if not self.done:
            self.finish_reason = self.finish_reason or "cancelled"
        self.handle.cancel()


class EngineLLM(LLM):
    """A local model behind the batching engine: concurrent chat calls share decode steps."""

    def __init__(self, local: TransformersLLM, config: EngineConfig | None = None) -> None:
        self.local = local
        self.name = local.name
        self.tokenizer = local.tokenizer
        self.config = config or EngineConfig()
        self.engine = BatchEngine(local.model, local.eos_ids, self.config)

    def describe(self) -> str:
        """The local model's description, behind the batching engine."""
        return f"{self.local.describe()}, batching engine"

    def start(self, messages: Sequence[Message], max_tokens: int = 256, stop: Sequence[str] | None = None,
              logits: RequestLogits | None = None, tools: Sequence[dict[str, Any]] | None = None) -> Generation:
        """Submit a chat request; read it with `Generation.step` or `pieces`. `logits`: a grammar to decode under
        and/or top log-probabilities to record, for this request only; `tools`: offered through the chat template."""
        prompt = self.local.encode(messages, tools)[0].tolist()
        handle = self.engine.submit(prompt, max_tokens, logits)
        return Generation(handle, self.tokenizer, stop, self.local.eos_ids, logits)

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        """Generate one reply greedily, cut at the first stop string."""
        t0 = time.perf_counter()
        gen = self.start(messages, max_tokens, stop)
        text = "".join(gen.pieces())
        return Completion(text=text, prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                          seconds=time.perf_counter() - t0)

    def stream(self, messages: Sequence[Message], max_tokens: int = 256,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        """Yield the greedy reply in pieces as the engine decodes it."""
        yield from self.start(messages, max_tokens, stop).pieces()

    def structured(self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int = 256) -> Completion:
        """A greedy reply under the JSON Schema's grammar, decoded as one request of the running batch (its rows
        masked by its own grammar; the other requests decode as before)."""
        t0 = time.perf_counter()
        matcher = self.local.grammar.matcher(json_schema_grammar(schema))
        gen = self.start(messages, max_tokens, None, RequestLogits(matcher=matcher))
        text = "".join(gen.pieces())
        matcher.advance(gen.tokens)
        check_complete(matcher, max_tokens)
        validate(text, schema)
        return Completion(text=text, prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                          seconds=time.perf_counter() - t0)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """Each option's summed log-probability as the start of the reply (the exact head's, as the direct model
        scores it), computed by requests of the running batch: nothing pauses. One request prefills the prompt, reads
        every option's first token from its first step and is forced through the longest option; once that prompt
        is in the cache, each other option of several tokens is forced through the rest of its tokens as a request
        of its own, reusing the prompt's cached blocks. Where the engine cannot read a request's logits (CUDA
        graphs), the loop is paused and the direct model scores the options instead."""
        if not options or any(not o for o in options):
            raise ValueError("choose() needs at least one option, and no empty ones")
        if self.engine.per_request_logits_refusal() is not None:
            with self.engine.exclusive():
                return self.local.choose(messages, options)
        t0 = time.perf_counter()
        option_ids = [self.tokenizer.encode(o, add_special_tokens=False) for o in options]
        prompt = self.local.encode(messages)[0].tolist()
        longest = max(range(len(options)), key=lambda i: len(option_ids[i]))
        first = RequestLogits(forced=option_ids[longest], gather=[ids[0] for ids in option_ids], exact=True)
        scored = [(longest, self.engine.submit(prompt, len(option_ids[longest]), first), first)]
        try:
            scored[0][1].next_tokens(timeout=None)  # the prompt's blocks are cached once its first step is done
            for i, ids in enumerate(option_ids):
                if i != longest and len(ids) > 1:
                    rest = RequestLogits(forced=ids[1:], exact=True)
                    scored.append((i, self.engine.submit(prompt + ids[:1], len(ids) - 1, rest), rest))
            for _, handle, _ in scored:
                while not handle.finished:
                    handle.next_tokens(timeout=None)
        finally:
            for _, handle, _ in scored:
                handle.cancel()
        if first.gathered is None:
            raise LLMError("the engine did not score the options' first tokens")
        logprobs = list(first.gathered)
        for i, _, logits in scored:
            rest = logits.forced_logprobs[1:] if i == longest else logits.forced_logprobs
            if len(rest) != len(option_ids[i]) - 1:
                raise LLMError(f"the engine scored {len(rest) + 1} of the {len(option_ids[i])} tokens of option "
                               f"{options[i]!r} (an option holding an end-of-sequence token cannot be scored)")
            logprobs[i] += sum(rest)
        best = max(range(len(options)), key=lambda i: logprobs[i])
        return Choice(option=options[best], scores=dict(zip(options, logprobs, strict=True)),
                      prompt_tokens=len(prompt), completion_tokens=len(option_ids[best]),
                      seconds=time.perf_counter() - t0)

    def close(self) -> None:
        """Stop the engine and drop the model."""
        self.engine.close()
        self.local.close()
