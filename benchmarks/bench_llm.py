"""Benchmark the default local LLM: load time, prefill and decode tokens/s, per CPU variant.

    python benchmarks/bench_llm.py                      # every variant, cached model
    python benchmarks/bench_llm.py --variants fp32 mixed --threads 1 2
    python benchmarks/bench_llm.py --cold               # also time the first-start GGUF conversion

Variants are timed in interleaved rounds (best of --repeat), so background load hits all of them alike,
and each is checked against fp32 for identical greedy outputs on a few prompts.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm.bundled import ensure_bundled_model  # noqa: E402
from settings import Settings  # noqa: E402

CHECK_PROMPTS = (
    "Write a Python function that reverses a string.",
    "What is the capital of France? Answer in one sentence.",
    "Explain what a hash map is in two sentences.",
)
FILLER = (
    "Retrieval-augmented generation combines a search step with a language model. The retriever finds "
    "passages that look relevant to the question, and the generator reads them before it answers. "
)


def long_prompt(llm: object, target_tokens: int = 500) -> object:
    """Chat-template token ids of a prompt about `target_tokens` long."""
    text = ""
    while True:
        text += FILLER
        ids = llm.encode([{"role": "user", "content": text + "\nSummarise the text above."}])
        if ids.shape[1] >= target_tokens:
            return ids


def time_generation(llm: object, prompt: object, new_tokens: int) -> tuple[float, float]:
    """(prefill seconds, decode seconds for the remaining tokens) of one greedy generation."""
    t0 = time.perf_counter()
    first = None
    for n, _ in enumerate(llm.generate_ids(prompt, new_tokens, ignore_eos=True), start=1):
        if n == 1:
            first = time.perf_counter()
    end = time.perf_counter()
    return first - t0, end - first


def greedy_outputs(llm: object, max_tokens: int = 48) -> list[list[int]]:
    """Greedy token ids for each check prompt."""
    return [list(llm.generate_ids(llm.encode([{"role": "user", "content": p}]), max_tokens))
            for p in CHECK_PROMPTS]


def compare(reference: list[list[int]], outputs: list[list[int]]) -> str:
    """'identical' or where each differing output first diverges."""
    notes = []
    for i, (a, b) in enumerate(zip(reference, outputs, strict=True)):
        if a != b:
            j = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            notes.append(f"prompt {i + 1} diverges at token {j}")
    return "identical" if not notes else "; ".join(notes)


def load_variant(folder: Path, variant: str, threads: int, prompt_len: int) -> tuple[object, object]:
    """Load one variant and warm it up; returns (llm, long prompt ids)."""
    from llm.local import TransformersLLM

    llm = TransformersLLM(folder, device="cpu", variant=variant, threads=threads)
    prompt = long_prompt(llm, prompt_len)
    t0 = time.perf_counter()
    time_generation(llm, prompt[:, :64], 8)
    print(f"loaded {variant:8s} in {llm.load_seconds:5.1f}s (warm-up {time.perf_counter() - t0:.1f}s)", flush=True)
    return llm, prompt


def bench_threads(folder: Path, variants: list[str], threads: int, args: argparse.Namespace) -> None:
    """Load every variant, then time them in interleaved rounds so background load hits all alike."""
    import torch

    loaded = {v: load_variant(folder, v, threads, args.prompt_tokens) for v in variants}
    best: dict[str, tuple[float, float]] = {v: (0.0, 0.0) for v in variants}
    for _ in range(args.repeat):
        for variant, (llm, prompt) in loaded.items():
            torch.set_num_threads(threads)
            p, d = time_generation(llm, prompt, args.new_tokens)
            prefill, decode = prompt.shape[1] / p, (args.new_tokens - 1) / d
            best[variant] = (max(best[variant][0], prefill), max(best[variant][1], decode))
    reference = greedy_outputs(loaded[variants[0]][0])
    for variant, (llm, prompt) in loaded.items():
        same = "reference" if variant == variants[0] else compare(reference, greedy_outputs(llm))
        prefill, decode = best[variant]
        print(f"{variant:8s} threads={threads}  prefill {prefill:6.1f} tok/s ({prompt.shape[1]} tokens)  "
              f"decode {decode:5.1f} tok/s ({args.new_tokens} tokens)  outputs vs {variants[0]}: {same}",
              flush=True)
    print(f"[load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs]", flush=True)
    for llm, _ in loaded.values():
        llm.close()
    loaded.clear()
    gc.collect()


def bench_load(cache: Path, cold: bool) -> Path:
    """Time ensure_bundled_model: cold (fresh cache folder) when asked, then cached."""
    if cold:
        with tempfile.TemporaryDirectory(dir=cache.parent if cache.parent.exists() else None) as tmp:
            t0 = time.perf_counter()
            ensure_bundled_model(Path(tmp), progress=lambda m: print("  ..", m, flush=True))
            print(f"cold start: join + verify + convert {time.perf_counter() - t0:.1f}s", flush=True)
    t0 = time.perf_counter()
    folder = ensure_bundled_model(cache, progress=lambda m: print("  ..", m, flush=True))
    print(f"ensure_bundled_model (cached after first run): {time.perf_counter() - t0:.2f}s", flush=True)
    return folder


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Settings.from_env().model_cache,
                        help="the converted-model cache (default: the app's, RAGSCOPE_MODEL_CACHE)")
    parser.add_argument("--variants", nargs="+", default=["fp32", "mixed", "mixed-invariant", "bf16"])
    parser.add_argument("--threads", nargs="+", type=int, default=[os.cpu_count() or 1])
    parser.add_argument("--prompt-tokens", type=int, default=500)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also time a first-start conversion")
    args = parser.parse_args()
    folder = bench_load(args.cache, args.cold)
    variants = ["fp32"] + [v for v in args.variants if v != "fp32"]
    for threads in args.threads:
        bench_threads(folder, variants, threads, args)

if __name__ == "__main__":
    main()
