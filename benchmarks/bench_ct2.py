"""CTranslate2 (int8, fp32) against today's PyTorch fp32 loop on the default model: prefill and decode tok/s.

    RAGSCOPE_MODEL_CACHE=/work/cache/models python benchmarks/bench_ct2.py [--repeat 2] [--new 128]

Same ~500-token prompt as bench_llm.py, EOS ignored, rounds interleaved (best of --repeat). Greedy outputs on
bench_llm's three check prompts are compared with PyTorch fp32. Answer quality is measured separately with
`RAGSCOPE_LLM_ENGINE=ct2 python app.py bench --agent naive ...` (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_llm import CHECK_PROMPTS, compare, greedy_outputs, long_prompt, time_generation  # noqa: E402

from llm.bundled import ensure_bundled_model  # noqa: E402
from llm.ctranslate import CT2LLM, convert  # noqa: E402
from llm.local import TransformersLLM  # noqa: E402
from settings import Settings  # noqa: E402


def ct2_timing(llm: CT2LLM, tokens: list[str], new: int) -> tuple[float, float]:
    """(prefill seconds, decode seconds for the remaining tokens) of one greedy generation, EOS ignored."""
    t0 = time.perf_counter()
    first = None
    for n, _ in enumerate(llm.generator.generate_tokens(tokens, max_length=new, min_length=new, sampling_topk=1),
                          start=1):
        if n == 1:
            first = time.perf_counter()
    return first - t0, time.perf_counter() - first


def ct2_greedy(llm: CT2LLM, max_tokens: int = 48) -> list[list[int]]:
    """Greedy token ids for each check prompt (stopping at EOS like the PyTorch loop, EOS included)."""
    outs = []
    for p in CHECK_PROMPTS:
        ids = []
        for step in llm.generator.generate_tokens(llm._prompt_tokens([{"role": "user", "content": p}]),
                                                  max_length=max_tokens, sampling_topk=1, end_token=llm._eos):
            ids.append(step.token_id)
            if step.token_id in llm._eos:
                break
        outs.append(ids)
    return outs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--computes", default="int8,float32")
    args = p.parse_args()
    settings = Settings.from_env()
    folder = ensure_bundled_model(settings.model_cache)
    torch_llm = TransformersLLM(folder, device="cpu", variant="fp32")
    prompt = long_prompt(torch_llm)
    tokens = torch_llm.tokenizer.convert_ids_to_tokens(prompt[0].tolist())
    reference = greedy_outputs(torch_llm)
    engines = {}
    for compute in args.computes.split(","):
        t0 = time.perf_counter()
        out = convert(folder, settings.model_cache / f"{folder.name}-ct2-{compute}", compute, print)
        engines[compute] = CT2LLM(out, folder, compute=compute)
        print(f"ct2 {compute}: ready in {time.perf_counter() - t0:.1f} s; greedy vs fp32: "
              f"{compare(reference, ct2_greedy(engines[compute]))}", flush=True)
    best: dict[str, list[float]] = {}
    for r in range(args.repeat):
        rows = {"torch fp32": time_generation(torch_llm, prompt, args.new)}
        for compute, llm in engines.items():
            rows[f"ct2 {compute}"] = ct2_timing(llm, tokens, args.new)
        for name, (pre, dec) in rows.items():
            tps = [prompt.shape[1] / pre, (args.new - 1) / dec]
            best[name] = [max(a, b) for a, b in zip(best.get(name, [0, 0]), tps, strict=True)]
            print(f"round {r}: {name}: prefill {tps[0]:.0f} tok/s, decode {tps[1]:.1f} tok/s", flush=True)
    print(f"\n{prompt.shape[1]}-token prompt, {args.new} new tokens, best of {args.repeat}")
    print("| engine | prefill tok/s | decode tok/s |\n| --- | --- | --- |")
    for name, (pre, dec) in best.items():
        print(f"| {name} | {pre:.0f} | {dec:.1f} |")


if __name__ == "__main__":
    main()
