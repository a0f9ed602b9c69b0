"""A local transformers model: greedy chat, token streaming, JSON under a grammar and log-likelihood choice,
in-process (one request at a time; llm/engine.py batches many). Precision kernels live in llm/precision.py, stop
strings in llm/stopping.py.

Heavy imports (torch, transformers) happen here; import this module only when a local model is wanted.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from llm.base import LLM, Choice, Completion, LLMError, Message
from llm.grammar import Matcher, TokenGrammar, apply_bitmask, check_complete, json_schema_grammar, validate
from llm.precision import convert, exact_head, pick_variant
from llm.stopping import stop_pieces


@dataclass
class _Stats:
    """Token counts of one generation, filled in while it runs."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when a GPU is usable, else "cpu"; anything else is returned as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _cache_keyword(model: Any) -> str:
    """The forward() argument that takes the KV cache: `cache` in newer transformers, else `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class TransformersLLM(LLM):
    """Any Hugging Face causal LM (hub id or local folder), run greedily in this process."""

    def __init__(
        self,
        model: str | Path,
        device: str = "auto",
        variant: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.name = f"local:{Path(str(model)).name}"
        self.device = resolve_device(device)
        self.variant = pick_variant(self.device, variant)
        if threads:
            torch.set_num_threads(threads)
        self._lock = threading.RLock()  # re-entrant: a paused stream() must not block its own thread
        t0 = time.perf_counter()
        self.tokenizer, self.model = self._load(str(model))
        self.eos_ids = self._eos_ids()
        self.grammar = TokenGrammar(self.tokenizer, sorted(self.eos_ids), int(self.model.config.vocab_size))
        self._cache_kw = _cache_keyword(self.model)
        self.load_seconds = time.perf_counter() - t0

    # -- loading -------------------------------------------------------------------------------

    def _load(self, model: str) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype = torch.bfloat16 if self.variant == "bf16" else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(model)
            net = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise LLMError(f"cannot load local model {model!r}: {str(exc).splitlines()[0]}") from exc
        return tokenizer, convert(net.to(self.device).eval(), self.variant)

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (getattr(self.model, "generation_config", None), self.tokenizer):
            value = getattr(source, "eos_token_id", None)
            ids.update(value if isinstance(value, list) else [] if value is None else [value])
        return ids

    # -- helpers -------------------------------------------------------------------------------

    def encode(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] | None = None) -> torch.Tensor:
        """Token ids [1, n] of the chat template with the assistant turn opened (and `tools` offered, if given)."""
        extra = {"tools": list(tools)} if tools else {}
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False, **extra)
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
        return ids.to(self.device)

    def _next_token(self, inputs: torch.Tensor, cache: Any, position: torch.Tensor,
                    mask: torch.Tensor | None = None) -> int:
        """Run one forward pass and return the greedy next token (among those `mask` allows, when given)."""
        kwargs = {self._cache_kw: cache, "cache_position": position, "use_cache": True}
        logits = self.model(input_ids=inputs, logits_to_keep=1, **kwargs).logits[0, -1]
        if mask is not None:
            logits = logits.float()[None]
            apply_bitmask(logits, mask)
        return int(logits.argmax())

    def generate_ids(self, prompt: torch.Tensor, max_tokens: int, ignore_eos: bool = False) -> Iterator[int]:
        """Yield greedily decoded token ids after `prompt` ([1, n] ids) until EOS or `max_tokens`."""
        with self._lock, torch.inference_mode():
            yield from self._greedy_ids(prompt, max_tokens, ignore_eos)

    def _greedy_ids(self, prompt: torch.Tensor, max_tokens: int, ignore_eos: bool = False,
                    matcher: Matcher | None = None) -> Iterator[int]:
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        inputs, past = prompt, 0
        mask = None if matcher is None else self.grammar.new_bitmask(1)
        generated: list[int] = []
        for _ in range(max_tokens):
            position = torch.arange(past, past + inputs.shape[1], device=self.device)
            past += inputs.shape[1]
            if matcher is not None and mask is not None:
                matcher.fill(mask[0])
            token = self._next_token(inputs, cache, position, mask)
            if matcher is not None:
                generated.append(token)
                matcher.advance(generated)
            yield token
            if token in self.eos_ids and not ignore_eos:
                return
            inputs = torch.tensor([[token]], device=self.device)

    def _generate(self, messages: Sequence[Message], max_tokens: int, stop: Sequence[str] | None,
                  stats: _Stats, matcher: Matcher | None = None) -> Iterator[str]:
        """Yield text pieces of the greedy reply, honouring stop strings; fills `stats`."""
        with self._lock, torch.inference_mode():
            prompt = self.encode(messages)
            stats.prompt_tokens = prompt.shape[1]
            yield from stop_pieces(self._greedy_ids(prompt, max_tokens, matcher=matcher),
                                   lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True),
                                   stop, lambda n: setattr(stats, "completion_tokens", n))

    # -- the LLM interface ---------------------------------------------------------------------

    def describe(self) -> str:
        """The model, its precision variant and device."""
        return f"{self.name} ({self.variant} on {self.device})"

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        """Generate one reply greedily, cut at the first stop string."""
        t0 = time.perf_counter()
        stats = _Stats()
        text = "".join(self._generate(messages, max_tokens, stop, stats))
        return Completion(text=text, prompt_tokens=stats.prompt_tokens,
                          completion_tokens=stats.completion_tokens, seconds=time.perf_counter() - t0)

    def stream(self, messages: Sequence[Message], max_tokens: int = 256,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        """Yield the greedy reply in pieces as tokens are decoded."""
        yield from self._generate(messages, max_tokens, stop, _Stats())

    def structured(self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int = 256) -> Completion:
        """A greedy reply decoded under the JSON Schema's grammar: valid JSON under `schema`."""
        t0 = time.perf_counter()
        matcher = self.grammar.matcher(json_schema_grammar(schema))
        stats = _Stats()
        text = "".join(self._generate(messages, max_tokens, None, stats, matcher))
        check_complete(matcher, max_tokens)
        validate(text, schema)
        return Completion(text=text, prompt_tokens=stats.prompt_tokens,
                          completion_tokens=stats.completion_tokens, seconds=time.perf_counter() - t0)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """Pick the option with the highest summed log-probability as the start of the reply."""
        if not options or any(not o for o in options):
            raise ValueError("choose() needs at least one option, and no empty ones")
        t0 = time.perf_counter()
        option_ids = [self.tokenizer.encode(o, add_special_tokens=False) for o in options]
        with self._lock, torch.inference_mode():
            prompt = self.encode(messages)
            logprobs = self._option_logprobs(prompt, option_ids)
        scores = {o: s for o, s in zip(options, logprobs, strict=True)}
        best = max(range(len(options)), key=lambda i: logprobs[i])
        return Choice(option=options[best], scores=scores, prompt_tokens=prompt.shape[1],
                      completion_tokens=len(option_ids[best]), seconds=time.perf_counter() - t0)

    def _option_logprobs(self, prompt: torch.Tensor, option_ids: list[list[int]]) -> list[float]:
        """Summed log-probs of each option after the prompt: one prefill, then one batched pass (exact head)."""
        with exact_head(self.model):
            return self._scored(prompt, option_ids)

    def _scored(self, prompt: torch.Tensor, option_ids: list[list[int]]) -> list[float]:
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        out = self.model(input_ids=prompt, **{self._cache_kw: cache}, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        scores = [float(first[ids[0]]) for ids in option_ids]
        width = max(len(ids) for ids in option_ids) - 1
        if width == 0:
            return scores
        # Feed every option's tokens but its last, right-padded; causal attention keeps pads harmless.
        pad = option_ids[0][0]
        batch = torch.tensor([(ids[:-1] + [pad] * width)[:width] for ids in option_ids], device=self.device)
        cache.batch_repeat_interleave(len(option_ids))
        logits = self.model(input_ids=batch, **{self._cache_kw: cache}, use_cache=True).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        for i, ids in enumerate(option_ids):
            scores[i] += sum(float(logp[i, j - 1, ids[j]]) for j in range(1, len(ids)))
        return scores

    def close(self) -> None:
        """Drop the model so its memory can be freed."""
        with self._lock:
            self.model = None
