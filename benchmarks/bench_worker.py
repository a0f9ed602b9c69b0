"""The batching engine vs today's direct greedy loop, on the default model: throughput, latency, prefix reuse.

    RAGSCOPE_MODEL_CACHE=/work/cache/models python benchmarks/bench_worker.py [--levels 1,4,8,16] [--json out.json]
        [--precision fp32|mixed|mixed-invariant|bf16] [--attention sdpa|varlen] [--profile 8] [--mixed 4]

Every request has a distinct ~500-token prompt and generates exactly `--new` tokens (EOS ignored on both paths).
The direct loop and the engine share one model, so both run in `--precision`.

`--mixed K`: generation plus choices. K generation requests decode while another thread makes `--choices`
constrained choices one after another (a yes/no over its own ~500-token prompt, as RetroRAG's judge does): the
generation's wall time and each choice's latency with choices scored inside the running batch (`EngineLLM.choose`)
against choices that pause the batch (the direct model's scoring under `exclusive()`, as before), and against the
generation alone; every mode on fresh prompts.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm.engine import BatchEngine, EngineConfig, EngineLLM  # noqa: E402
from llm.local import TransformersLLM  # noqa: E402
from settings import Settings  # noqa: E402

WORDS = ("river town bridge king year music film actor born city novel band album league team war ship island "
         "church school museum prize poet painter river valley mountain lake railway station castle").split()


def prompt_ids(llm: TransformersLLM, seed: int, words: int = 420) -> list[int]:
    """A chat prompt of about 500 tokens whose first words already differ from every other seed's."""
    rng = random.Random(seed)
    passages = " ".join(rng.choice(WORDS) for _ in range(words))
    messages = [{"role": "system", "content": f"Request {seed}. Answer from the passages."},
                {"role": "user", "content": f"Passages: {passages}\nQuestion: which town is named first?"}]
    return llm.encode(messages)[0].tolist()


def run_engine(engine: BatchEngine, prompts: list[list[int]], new: int,
               first: list[float] | None = None) -> tuple[float, list[float], list[list[int]]]:
    """Submit every prompt at once, each from its own thread; wall seconds, per-request latencies and outputs
    (and, into `first` when given, each request's seconds to its first token)."""
    latencies = [0.0] * len(prompts)
    outputs: list[list[int]] = [[] for _ in prompts]
    t0 = time.perf_counter()

    def one(i: int) -> None:
        handle = engine.submit(prompts[i], new)
        while True:
            tokens, done = handle.next_tokens(None)
            if first is not None and tokens and not first[i]:
                first[i] = time.perf_counter() - t0
            if done:
                outputs[i] = tokens
                latencies[i] = time.perf_counter() - t0
                return

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, outputs


def run_direct(llm: TransformersLLM, prompt: list[int], new: int) -> tuple[float, list[int]]:
    """Today's direct greedy loop on one prompt."""
    t0 = time.perf_counter()
    out = list(llm.generate_ids(torch.tensor([prompt]), new, ignore_eos=True))
    return time.perf_counter() - t0, out


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def prefix_reuse(llm: TransformersLLM, engine: BatchEngine, turns: int = 4, new: int = 24) -> dict[str, int]:
    """An Auto-RAG-shaped dialogue (each turn appends a reply and new passages): prompt tokens sent vs computed."""
    computed = [0]
    hook = llm.model.register_forward_hook(lambda m, args, kw, out: computed.__setitem__(
        0, computed[0] + int(kw["input_ids"].shape[1])), with_kwargs=True)
    rng = random.Random(99)
    messages = [{"role": "system", "content": "Decide whether to retrieve more or answer."},
                {"role": "user", "content": "Question: who built the castle? Passages: "
                 + " ".join(rng.choice(WORDS) for _ in range(250))}]
    sent = generated = 0
    for _ in range(turns):
        ids = llm.encode(messages)[0].tolist()
        handle = engine.submit(ids, new)
        while not (update := handle.next_tokens(None))[1]:
            pass
        tokens = update[0]
        sent += len(ids)
        generated += len(tokens)
        reply = llm.tokenizer.decode(tokens, skip_special_tokens=True)
        messages += [{"role": "assistant", "content": reply},
                     {"role": "user", "content": "More passages: " + " ".join(rng.choice(WORDS) for _ in range(120))}]
    hook.remove()
    prompt_computed = computed[0] - (generated - turns)  # every generated token but each turn's first is a decode step
    return {"turns": turns, "prompt_tokens_sent": sent, "prompt_tokens_computed": prompt_computed}


def profile_steps(engine: BatchEngine, prompts: list[list[int]], new: int, top: int = 12,
                  profiled: int = 4) -> dict[str, object]:
    """Where the engine's time goes for len(prompts) requests submitted together: each step's forward + sampling
    (`compute_batch`, split into prefill and decode steps) against the wall time, and the heaviest torch ops of a
    few decode steps (profiled in the loop thread; those steps are left out of the step times)."""
    from collections import Counter

    from torch.profiler import ProfilerActivity, profile

    runner = engine._manager.batch_processor.model_runner
    original = runner.compute_batch
    k = len(prompts)
    steps: list[tuple[int, float]] = []
    ops: Counter[str] = Counter()
    profiled_s = [0.0]

    def timed(model: object, batch_data: dict) -> None:
        tokens = int(batch_data["input_ids"].shape[-1])
        t0 = time.perf_counter()
        if tokens <= k and sum(1 for n, _ in steps if n <= k) >= 2 and timed.left > 0:  # type: ignore[attr-defined]
            timed.left -= 1  # type: ignore[attr-defined]
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                original(model, batch_data)
            for event in prof.key_averages():
                ops[event.key] += event.self_cpu_time_total
            profiled_s[0] += time.perf_counter() - t0
            return
        original(model, batch_data)
        steps.append((tokens, time.perf_counter() - t0))

    timed.left = profiled  # type: ignore[attr-defined]
    runner.compute_batch = timed
    try:
        wall, _, _ = run_engine(engine, prompts, new)
    finally:
        del runner.compute_batch  # back to the class's method
    decode = [s for n, s in steps if n <= k]
    prefill = [s for n, s in steps if n > k]
    in_steps = sum(s for _, s in steps) + profiled_s[0]
    total_ops = sum(ops.values()) or 1
    return {
        "requests": k, "new_tokens": new, "wall_s": round(wall, 2),
        "in_steps_s": round(in_steps, 2), "outside_steps_s": round(wall - in_steps, 2),
        "prefill_steps": len(prefill), "prefill_s": round(sum(prefill), 2),
        "decode_steps": len(decode) + profiled - timed.left,  # type: ignore[attr-defined]
        "decode_s_unprofiled": round(sum(decode), 2),
        "decode_step_ms_median": round(1000 * statistics.median(decode), 1) if decode else None,
        "decode_ops_self_share": {name: round(us / total_ops, 3) for name, us in ops.most_common(top)},
    }


def mixed_workload(llm: TransformersLLM, config: EngineConfig, prompts: list[list[int]], k: int, choices: int,
                   new: int) -> list[dict[str, object]]:
    """Generation plus choices (see the module docstring): one row per mode."""
    engine_llm = EngineLLM(llm, config)
    engine = engine_llm.engine
    rng = random.Random(7)

    def judge(seed: int) -> list[dict[str, str]]:
        passages = " ".join(rng.choice(WORDS) for _ in range(400))
        return [{"role": "system", "content": f"Judge {seed}. Reply yes or no."},
                {"role": "user", "content": f"Passages: {passages}\nDo the passages name a castle? yes or no"}]

    def choose_inside(messages: list[dict[str, str]]) -> object:
        return engine_llm.choose(messages, ["yes", "no"])

    def choose_paused(messages: list[dict[str, str]]) -> object:
        with engine.exclusive():
            return llm.choose(messages, ["yes", "no"])

    rows = []
    offset = 0
    for mode, choose in (("generation alone", None), ("choices inside the batch", choose_inside),
                         ("choices pause the batch", choose_paused)):
        batch = prompts[offset:offset + k]
        offset += k
        latencies: list[float] = []

        def chooser(choose: object = choose, latencies: list[float] = latencies) -> None:
            for i in range(choices):
                t0 = time.perf_counter()
                choose(judge(len(rows) * 100 + i))  # type: ignore[operator]
                latencies.append(time.perf_counter() - t0)

        thread = threading.Thread(target=chooser) if choose is not None else None
        if thread is not None:
            thread.start()
        wall, lat, outputs = run_engine(engine, batch, new)
        if thread is not None:
            thread.join()
        row = {"mode": mode, "generation_wall_s": round(wall, 2),
               "generation_tok_s": round(sum(map(len, outputs)) / wall, 2),
               "generation_p95_s": round(pct(lat, 0.95), 2), "choices": len(latencies),
               "choice_mean_s": round(statistics.fmean(latencies), 2) if latencies else None}
        rows.append(row)
        print(row, flush=True)
    engine.close()
    return rows


def main() -> None:
    """Measure and print a table (and JSON)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--levels", default="1,4,8,16")
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--lone-reps", type=int, default=3)
    p.add_argument("--json", type=Path)
    p.add_argument("--precision", choices=("fp32", "mixed", "mixed-invariant", "bf16"), default="fp32",
                   help="precision of both paths (mixed and bf16 need AMX or AVX512-BF16 to be fast on CPU)")
    p.add_argument("--attention", choices=("sdpa", "varlen"),
                   help="the engine's attention (default: what RAGSCOPE_ENGINE_ATTENTION=auto picks on CPU)")
    p.add_argument("--profile", type=int, default=0, metavar="K",
                   help="only profile K requests submitted together (steps vs wall, heaviest ops), then exit")
    p.add_argument("--mixed", type=int, default=0, metavar="K",
                   help="only run the mixed workload (K generations plus --choices choices), then exit")
    p.add_argument("--choices", type=int, default=8, help="choices made during the mixed workload")
    args = p.parse_args()
    settings = Settings.from_env()
    from llm.bundled import ensure_bundled_model

    bundled = settings.llm_model.startswith("bundled:")
    folder = ensure_bundled_model(settings.model_cache) if bundled else settings.llm_model
    llm = TransformersLLM(folder, device="cpu", variant=args.precision)
    from llm.factory import attention_setting

    config = EngineConfig(max_batch=settings.engine_max_batch, kv_blocks=settings.engine_kv_blocks,
                          max_batch_tokens=settings.engine_batch_tokens,
                          attention=args.attention or attention_setting(settings.engine_attention, "cpu"))
    engine = BatchEngine(llm.model, set(), config)  # no EOS: every request generates exactly --new tokens
    levels = [int(x) for x in args.levels.split(",")]
    count = max(2 * args.lone_reps + sum(levels), args.profile + 1, 3 * args.mixed) + 1
    prompts = [prompt_ids(llm, seed) for seed in range(1000, 1000 + count)]
    print(llm.describe(), flush=True)
    print(f"torch threads {torch.get_num_threads()}; prompts of {min(map(len, prompts))}-{max(map(len, prompts))} "
          f"tokens; {args.new} new tokens; engine {config}", flush=True)
    run_engine(engine, [prompts[-1]], 4)  # warm up both paths
    run_direct(llm, prompts[-1], 4)
    results: dict[str, object] = {"new_tokens": args.new, "config": config.__dict__, "precision": args.precision}
    if args.mixed:
        engine.close()
        rows = mixed_workload(llm, config, prompts, args.mixed, args.choices, args.new)
        print("| mode | generation wall s | generation tok/s | choices made | mean choice s |")
        print("|---|---:|---:|---:|---:|")
        for row in rows:
            print(f"| {row['mode']} | {row['generation_wall_s']} | {row['generation_tok_s']} | {row['choices']} | "
                  f"{row['choice_mean_s']} |")
        if args.json:
            args.json.write_text(json.dumps({**results, "mixed": rows, "choices": args.choices}, indent=2))
        return
    if args.profile:
        single = profile_steps(engine, prompts[:1], args.new)
        print("alone:", json.dumps(single, indent=1), flush=True)
        batch = profile_steps(engine, prompts[1:1 + args.profile], args.new)
        print(f"{args.profile} together:", json.dumps(batch, indent=1), flush=True)
        engine.close()
        if args.json:
            args.json.write_text(json.dumps({**results, "profile": [single, batch]}, indent=2))
        return

    # One request alone: engine vs direct, alternating on fresh prompts (distinct, so no prefix reuse).
    lone_engine, lone_direct, same = [], [], True
    for r in range(args.lone_reps):
        d_sec, d_out = run_direct(llm, prompts[2 * r], args.new)
        e_sec, _, e_out = run_engine(engine, [prompts[2 * r + 1]], args.new)
        _, check = run_direct(llm, prompts[2 * r + 1], args.new)
        same &= e_out[0] == check
        lone_direct.append(d_sec)
        lone_engine.append(e_sec)
        print(f"lone: direct {d_sec:.2f} s, engine {e_sec:.2f} s, same tokens {e_out[0] == check}", flush=True)
    direct_tps = args.new / statistics.median(lone_direct)
    results["lone"] = {"direct_s": lone_direct, "engine_s": lone_engine, "same_tokens": same,
                       "engine_vs_direct": statistics.median(lone_engine) / statistics.median(lone_direct)}

    start = 2 * args.lone_reps
    rows = []
    for k in levels:
        batch = prompts[start:start + k]
        start += k
        wall, lat, _ = run_engine(engine, batch, args.new)
        row = {"concurrent": k, "wall_s": round(wall, 2), "tok_s": round(k * args.new / wall, 2),
               "p50_s": round(pct(lat, 0.5), 2), "p95_s": round(pct(lat, 0.95), 2),
               "vs_one_at_a_time": round(k * args.new / wall / direct_tps, 2)}
        rows.append(row)
        print(row, flush=True)
    results["levels"] = rows
    results["one_at_a_time_tok_s"] = round(direct_tps, 2)
    results["prefix_reuse"] = prefix_reuse(llm, engine)
    print(results["prefix_reuse"], flush=True)
    engine.close()

    print(f"\none at a time (direct loop): {direct_tps:.2f} tok/s; lone request engine/direct = "
          f"{results['lone']['engine_vs_direct']:.2f} (same tokens: {same})")
    print("| concurrent | aggregate tok/s | p50 s | p95 s | vs one at a time |")
    print("|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = [row["concurrent"], row["tok_s"], row["p50_s"], row["p95_s"], f"{row['vs_one_at_a_time']}x"]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
