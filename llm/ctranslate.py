"""A local model run by CTranslate2 (int8 or fp32 kernels for CPU), behind the same LLM interface.

`RAGSCOPE_LLM_ENGINE=ct2` (int8; `RAGSCOPE_LLM_PRECISION=fp32` for float32 kernels): the Hugging Face model is
converted once into the model cache. docs/notebook.md says why it is not the default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from llm.base import LLM, Choice, Completion, LLMError, Message
from llm.stopping import stop_pieces

COMPUTE_TYPES = ("int8", "int8_float32", "float32")


def convert(model: Path, out: Path, compute: str, progress: Callable[[str], None] | None = None) -> Path:
    """Convert a Hugging Face folder to CTranslate2 once (weights stored in `compute`'s precision)."""
    if (out / "model.bin").exists():
        return out
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as exc:
        raise LLMError("RAGSCOPE_LLM_ENGINE=ct2 needs the ctranslate2 package: pip install ctranslate2") from exc
    if progress is not None:
        progress(f"converting {model.name} to CTranslate2 ({compute}), once")
    tmp = out.with_name(out.name + ".partial")
    TransformersConverter(str(model), low_cpu_mem_usage=True).convert(
        str(tmp), quantization="int8" if compute.startswith("int8") else "float32", force=True)
    tmp.rename(out)
    return out


class CT2LLM(LLM):
    """Greedy chat, streaming and constrained choice on a CTranslate2 generator."""

    def __init__(self, ct2_dir: Path, tokenizer_dir: Path, compute: str = "int8", threads: int = 0) -> None:
        import ctranslate2
        from transformers import AutoTokenizer

        if compute not in COMPUTE_TYPES:
            raise ValueError(f"unknown CTranslate2 compute type {compute!r}; valid: {', '.join(COMPUTE_TYPES)}")
        self.name = f"ct2:{Path(tokenizer_dir).name}:{compute}"
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        self.generator = ctranslate2.Generator(str(ct2_dir), device="cpu", compute_type=compute,
                                               intra_threads=threads)
        eos = self.tokenizer.eos_token_id
        self._eos = [eos] if isinstance(eos, int) else list(eos or [])
        self._lock = threading.Lock()

    def _prompt_tokens(self, messages: Sequence[Message]) -> list[str]:
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        return self.tokenizer.convert_ids_to_tokens(ids)

    def _generate(self, messages: Sequence[Message], max_tokens: int, stop: Sequence[str] | None,
                  stats: dict[str, int]) -> Iterator[str]:
        prompt = self._prompt_tokens(messages)
        stats["prompt"] = len(prompt)
        with self._lock:
            steps = self.generator.generate_tokens(prompt, max_length=max_tokens, sampling_topk=1,
                                                   end_token=self._eos or None)

            def ids() -> Iterator[int]:
                for step in steps:
                    if step.token_id in self._eos:
                        return
                    yield step.token_id

            try:
                yield from stop_pieces(ids(), lambda t: self.tokenizer.decode(t, skip_special_tokens=True), stop,
                                       lambda n: stats.__setitem__("completion", n))
            finally:
                steps.close()

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        """Generate one reply greedily, cut at the first stop string."""
        t0 = time.perf_counter()
        stats = {"prompt": 0, "completion": 0}
        text = "".join(self._generate(messages, max_tokens, stop, stats))
        return Completion(text=text, prompt_tokens=stats["prompt"], completion_tokens=stats["completion"],
                          seconds=time.perf_counter() - t0)

    def stream(self, messages: Sequence[Message], max_tokens: int = 256,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        """Yield the greedy reply in pieces as tokens are decoded."""
        yield from self._generate(messages, max_tokens, stop, {"prompt": 0, "completion": 0})

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """The option with the highest summed log-probability after the prompt (each option scored in one batch)."""
        if not options or any(not o for o in options):
            raise ValueError("choose() needs at least one option, and no empty ones")
        t0 = time.perf_counter()
        prompt = self._prompt_tokens(messages)
        option_tokens = [self.tokenizer.convert_ids_to_tokens(self.tokenizer.encode(o, add_special_tokens=False))
                         for o in options]
        with self._lock:
            results: list[Any] = self.generator.score_batch([prompt + toks for toks in option_tokens])
        # log_probs[i] is the log-probability of token i+1 given the tokens before it
        logprobs = [float(sum(r.log_probs[len(prompt) - 1:])) for r in results]
        best = max(range(len(options)), key=lambda i: logprobs[i])
        return Choice(option=options[best], scores=dict(zip(options, logprobs, strict=True)),
                      prompt_tokens=len(prompt), completion_tokens=len(option_tokens[best]),
                      seconds=time.perf_counter() - t0)
