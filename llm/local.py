"""A local transformers model: greedy chat, token streaming and log-likelihood choice, in-process.

Heavy imports (torch, transformers) happen here; import this module only when a local model is wanted.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from llm.base import LLM, Choice, Completion, LLMError, Message
from llm.grammar import Matcher, TokenGrammar, apply_bitmask, check_complete, json_schema_grammar, validate

log = logging.getLogger(__name__)

# CPU variants, measured by benchmarks/bench_llm.py and bench_worker.py; "auto" picks "mixed" on CPUs with bf16 matrix
# instructions (3x faster prefill; naive EM/F1 within 0.02 of fp32 on both multihop sets, benchmarks/RESULTS.md) and
# fp32 elsewhere.
VARIANTS = ("auto", "fp32", "mixed", "mixed-invariant", "qhead", "bf16", "int8", "compile")
DEFAULT_CPU_VARIANT = "fp32"
FAST_BF16_CPU_VARIANT = "mixed"
STATIC_CACHE_LEN = 4096  # max prompt + reply tokens for the "compile" variant
# "mixed-invariant": oneDNN picks its bf16 kernel, and so the rounding of a row, by how many rows share the call; in
# blocks of a fixed count every row meets the same kernel, so a request's tokens do not depend on its batch-mates
ROW_BLOCK = 64


@dataclass
class _Stats:
    """Token counts of one generation, filled in while it runs."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


def _quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantization (per-channel weights) of every Linear layer, for CPU."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def blocked_linear(x: torch.Tensor, weight: torch.Tensor, rows: int) -> torch.Tensor:
    """`linear(x, weight)` (no bias) computed `rows` rows at a time, the last block padded with zeros, so that every
    row goes through the kernel chosen for exactly `rows` rows: its result then depends on it alone, not on how many
    rows share the call (0 = one plain call)."""
    flat = x.reshape(-1, x.shape[-1])
    n = flat.shape[0]
    if not rows or n == 0:
        return torch.nn.functional.linear(x, weight)
    pad = -n % rows
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad, flat.shape[1])])
    out = torch.cat([torch.nn.functional.linear(flat[i:i + rows], weight) for i in range(0, n + pad, rows)])
    return out[:n].reshape(*x.shape[:-1], weight.shape[0])


class Bf16Linear(torch.nn.Module):
    """A Linear layer that multiplies in bf16 (bf16 weights, fp32 accumulation on AMX) and hands back its input's
    dtype, so the layers around it keep fp32. With `row_block`, rows are multiplied in blocks of that many
    (`blocked_linear`): batch-invariant, slower."""

    def __init__(self, linear: torch.nn.Linear, row_block: int = 0) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        bias = linear.bias
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.row_block = row_block

    def forward(self, x: torch.Tensor, keep_bf16: bool = False) -> torch.Tensor:
        y = blocked_linear(x.to(torch.bfloat16), self.weight, self.row_block)
        if keep_bf16:
            return y if self.bias is None else y + self.bias.to(torch.bfloat16)
        y = y.to(x.dtype)
        return y if self.bias is None else y + self.bias


class Bf16GatedMLP(torch.nn.Module):
    """A gated MLP (`down(act(gate(x)) * up(x))`, as in Qwen2 and Llama) run wholly in bf16, fp32 in and out: its
    wide interior never round-trips through fp32."""

    def __init__(self, mlp: torch.nn.Module, row_block: int = 0) -> None:
        super().__init__()
        self.gate_proj = Bf16Linear(mlp.gate_proj, row_block)
        self.up_proj = Bf16Linear(mlp.up_proj, row_block)
        self.down_proj = Bf16Linear(mlp.down_proj, row_block)
        self.act_fn = mlp.act_fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb = x.to(torch.bfloat16)
        inner = self.act_fn(self.gate_proj(xb, keep_bf16=True)) * self.up_proj(xb, keep_bf16=True)
        return self.down_proj(inner, keep_bf16=True).to(x.dtype)


class ScreenedHead(torch.nn.Module):
    """An output head that gives the fp32 head's greedy token while reading it mostly in a cheaper form.

    A rough copy of the head ranks the vocabulary for every row: bf16 (the "mixed" variant) or per-channel
    dynamic int8 (the "qhead" variant, a quarter of the bytes). The fp32 rows of each row's top `k` candidates are
    then rescored exactly and written over their rough estimates, so the argmax equals the fp32 head's unless the
    true best token falls outside the rough top k (bf16 logits err by about 0.1; the 64th candidate trails the
    first by far more). In bf16, 8 rows take 20 ms on this CPU against 61 ms for the fp32 head (whose matmul runs
    far below the memory's speed for a few rows), so batched decoding gains the most. Scoring (`exact`) uses the
    fp32 head itself: log-probabilities of unlikely options need exact logits.
    """

    def __init__(self, head: torch.nn.Linear, rough: str = "bf16", k: int = 64, row_block: int = 0) -> None:
        super().__init__()
        self.weight = head.weight  # shared with the input embedding where the model ties them
        self.bias = head.bias
        self.k = k
        self.row_block = row_block
        self._local = threading.local()
        self.int8: torch.nn.Module | None = None
        if rough == "bf16":
            self.register_buffer("weight_bf16", head.weight.detach().to(torch.bfloat16), persistent=False)
        elif rough == "int8":
            from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
            from torch.ao.quantization import per_channel_dynamic_qconfig

            head.qconfig = per_channel_dynamic_qconfig
            self.int8 = DynamicLinear.from_float(head)
            del head.qconfig
        else:
            raise ValueError(f"unknown rough head {rough!r}: bf16 or int8")

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @contextlib.contextmanager
    def exact(self) -> Iterator[None]:
        """Context: this thread's calls use the fp32 head over the whole vocabulary."""
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self._local, "depth", 0) or x.dtype != torch.float32:
            return torch.nn.functional.linear(x, self.weight, self.bias)
        rows = x.reshape(-1, x.shape[-1])
        if self.int8 is not None:
            logits = self.int8(rows)  # the bias included
        else:
            logits = blocked_linear(rows.to(torch.bfloat16), self.weight_bf16, self.row_block).float()
            if self.bias is not None:
                logits += self.bias
        top = logits.topk(min(self.k, logits.shape[-1]), dim=-1).indices
        # each row's candidates rescored on their own (a product and a sum over the row: no batch-sized kernel)
        exact = (self.weight[top] * rows[:, None, :]).sum(-1) if self.row_block else \
            torch.einsum("nkd,nd->nk", self.weight[top], rows)
        if self.bias is not None:
            exact += self.bias[top]
        return logits.scatter_(1, top, exact).reshape(*x.shape[:-1], -1)


def _bf16_matmuls(model: Any, row_block: int = 0) -> Any:
    """The "mixed" CPU variant: every Linear of the decoder blocks multiplies in bf16 (the MLP's interior stays
    bf16), while the residual stream, norms, rotary, attention and its KV cache, the embedding and the output head
    stay fp32, the head read through its bf16 copy (`ScreenedHead`: the same greedy tokens). Prefill is mostly
    those matmuls, and AMX runs them several times faster than fp32. A `row_block` multiplies rows in blocks of that
    many ("mixed-invariant": a request's tokens then do not depend on what shares its batch)."""
    def convert(module: torch.nn.Module) -> None:
        for name, child in module.named_children():
            if all(hasattr(child, a) for a in ("gate_proj", "up_proj", "down_proj", "act_fn")):
                setattr(module, name, Bf16GatedMLP(child, row_block))
            elif type(child) is torch.nn.Linear:
                setattr(module, name, Bf16Linear(child, row_block))
            else:
                convert(child)

    convert(model.get_decoder())
    return _screened_head(model, "bf16", row_block)


def _screened_head(model: Any, rough: str, row_block: int = 0) -> Any:
    """The model with its output head read through a `rough` copy (`ScreenedHead`)."""
    head = model.get_output_embeddings()
    if type(head) is torch.nn.Linear:
        model.set_output_embeddings(ScreenedHead(head, rough, row_block=row_block))
    return model


def exact_head(model: Any) -> Any:
    """Context: the model's head scores exactly in this thread (a no-op for heads that always do)."""
    head = model.get_output_embeddings()
    return head.exact() if isinstance(head, ScreenedHead) else contextlib.nullcontext()


def cpu_has_fast_bf16() -> bool | None:
    """True when this x86 CPU has bf16 matrix instructions (AMX-BF16 or AVX512-BF16), which make bf16 matmuls
    several times faster than fp32 in torch; False when it has neither (bf16 is then emulated, usually slower than
    fp32); None when torch cannot tell (other architectures, older torch)."""
    probe = getattr(torch.cpu, "get_capabilities", None)
    if probe is None:
        return None
    try:
        caps = probe()
    except Exception:  # noqa: BLE001 - a capability probe must never stop the model from loading
        return None
    if caps.get("architecture") not in ("x86_64", "x86", "i686", "AMD64"):
        return None
    return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when a GPU is usable, else "cpu"; anything else is returned as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters might still grow into a stop string (or finish a multi-byte char)."""
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:k]):
                hold = k
                break
    if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence; wait for the next token
        hold = max(hold, 1)
    return hold


class StopCutter:
    """The text of a growing token list, cut at the first stop string. `update` gives the text that can no longer
    grow into a stop string (or finish a multi-byte character); `finish` gives the rest once the list is final."""

    def __init__(self, decode: Callable[[list[int]], str], stop: Sequence[str] | None) -> None:
        self.decode = decode
        self.stops = [s for s in (stop or ()) if s]
        self.stopped = False
        self._text = ""
        self._emitted = 0

    def update(self, ids: list[int]) -> str:
        """New text now that the tokens are `ids` (all of them so far)."""
        if self.stopped:
            return ""
        self._text = self.decode(ids)
        cut = _first_stop(self._text, self.stops)
        if cut >= 0:
            self.stopped = True
            return self._take(cut)
        return self._take(len(self._text) - _held_back(self._text, self.stops))

    def finish(self) -> str:
        """The held-back rest, once no token will follow."""
        return "" if self.stopped else self._take(len(self._text))

    def _take(self, end: int) -> str:
        if end <= self._emitted:
            return ""
        piece = self._text[self._emitted:end]
        self._emitted = end
        return piece


def stop_pieces(tokens: Iterable[int], decode: Callable[[list[int]], str], stop: Sequence[str] | None,
                counted: Callable[[int], None] | None = None) -> Iterator[str]:
    """Text pieces of a token stream, cut at the first stop string (the stream is then no longer read); text
    that might still grow into a stop string (or finish a multi-byte character) is held back until it cannot."""
    cutter = StopCutter(decode, stop)
    ids: list[int] = []
    for token in tokens:
        ids.append(token)
        if counted is not None:
            counted(len(ids))
        piece = cutter.update(ids)
        if piece:
            yield piece
        if cutter.stopped:
            return
    if piece := cutter.finish():
        yield piece


def _cache_keyword(model: Any) -> str:
    """The forward() argument that takes the KV cache: `cache` in newer transformers, else `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _first_stop(text: str, stops: Sequence[str]) -> int:
    """Index of the earliest stop string in `text`, or -1."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else -1


class TransformersLLM(LLM):
    """Any Hugging Face causal LM (hub id or local folder), run greedily in this process."""

    def __init__(
        self,
        model: str | Path,
        device: str = "auto",
        variant: str = "auto",
        threads: int | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
        self.name = f"local:{Path(str(model)).name}"
        self.device = resolve_device(device)
        self.variant = self._pick_variant(variant)
        if threads:
            torch.set_num_threads(threads)
        self._lock = threading.RLock()  # re-entrant: a paused stream() must not block its own thread
        t0 = time.perf_counter()
        self.tokenizer, self.model = self._load(str(model))
        self.eos_ids = self._eos_ids()
        self.grammar = TokenGrammar(self.tokenizer, sorted(self.eos_ids), int(self.model.config.vocab_size))
        self._cache_kw = _cache_keyword(self.model)
        self._compiled_step: Any = None
        self.load_seconds = time.perf_counter() - t0

    # -- loading -------------------------------------------------------------------------------

    def _pick_variant(self, variant: str) -> str:
        if self.device.startswith("cuda"):
            if variant not in ("auto", "bf16", "fp32"):
                raise ValueError(f"variant {variant!r} is CPU-only; use auto, bf16 or fp32 on {self.device}")
            return "bf16" if variant == "auto" else variant
        fast_bf16 = cpu_has_fast_bf16()
        if variant in ("bf16", "mixed", "mixed-invariant") and fast_bf16 is False:
            log.warning("RAGSCOPE_LLM_PRECISION=%s on a CPU without AMX-BF16 or AVX512-BF16: bf16 is emulated here "
                        "and usually slower than fp32; use fp32 (the default on this CPU)", variant)
        if variant == "auto":
            return FAST_BF16_CPU_VARIANT if fast_bf16 else DEFAULT_CPU_VARIANT
        return variant

    def _load(self, model: str) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype = torch.bfloat16 if self.variant == "bf16" else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(model)
            net = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise LLMError(f"cannot load local model {model!r}: {str(exc).splitlines()[0]}") from exc
        net = net.to(self.device).eval()
        if self.variant == "int8":
            net = _quantize_int8(net)
        elif self.variant in ("mixed", "mixed-invariant"):
            net = _bf16_matmuls(net, ROW_BLOCK if self.variant == "mixed-invariant" else 0)
        elif self.variant == "qhead":
            net = _screened_head(net, "int8")
        return tokenizer, net

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

    def _new_cache(self, total_len: int) -> Any:
        from transformers import DynamicCache, StaticCache

        if self.variant == "compile":
            return StaticCache(config=self.model.config, max_cache_len=max(total_len, STATIC_CACHE_LEN))
        return DynamicCache(config=self.model.config)

    def _decode_step(self) -> Any:
        """The one-token forward, compiled once for the "compile" variant."""
        if self.variant != "compile":
            return self.model
        if self._compiled_step is None:
            self._compiled_step = torch.compile(self.model, dynamic=False, fullgraph=False)
        return self._compiled_step

    def _next_token(self, step: Any, inputs: torch.Tensor, cache: Any, position: torch.Tensor,
                    mask: torch.Tensor | None = None) -> int:
        """Run one forward pass and return the greedy next token (among those `mask` allows, when given)."""
        kwargs = {self._cache_kw: cache, "cache_position": position, "use_cache": True}
        logits = step(input_ids=inputs, logits_to_keep=1, **kwargs).logits[0, -1]
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
        cache = self._new_cache(prompt.shape[1] + max_tokens)
        step, inputs, past = self.model, prompt, 0
        mask = None if matcher is None else self.grammar.new_bitmask(1)
        generated: list[int] = []
        for _ in range(max_tokens):
            position = torch.arange(past, past + inputs.shape[1], device=self.device)
            past += inputs.shape[1]
            if matcher is not None and mask is not None:
                matcher.fill(mask[0])
            token = self._next_token(step, inputs, cache, position, mask)
            if matcher is not None:
                generated.append(token)
                matcher.advance(generated)
            yield token
            if token in self.eos_ids and not ignore_eos:
                return
            inputs = torch.tensor([[token]], device=self.device)
            step = self._decode_step()

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
            self._compiled_step = None
