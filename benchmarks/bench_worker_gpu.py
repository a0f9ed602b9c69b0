"""The batching engine on a GPU: generated tokens/s at 1, 8, 32 and 64 concurrent requests.

    python benchmarks/bench_worker_gpu.py [--levels 1,8,32,64] [--new 128] [--prompt 500] \
        [--http TOKENIZER_DIR] [--json out.json]

The model is Qwen2.5-0.5B-Instruct's architecture (its config, below) with random bf16 weights: throughput does
not depend on the weights' values, and the real weights cannot travel to the GPU machine. No EOS is set, so every
request generates exactly `--new` tokens. Each request has its own random `--prompt`-token prompt (no shared
prefix). Rows:
- `generate()` at batch 1 and a static batch of the largest level: the plain transformers reference;
- the engine (`llm.engine.BatchEngine`, transformers' continuous batching) with and without CUDA graphs, every
  request submitted at once from its own thread, as the app and the worker do;
- with `--http DIR` (a folder holding the tokenizer files): `app.py worker` on the same random weights, and
  concurrent clients posting `/v1/chat/completions`; the tokens counted are the replies' `usage`.
Aggregate tok/s = generated tokens of all requests / wall time from the first submit to the last token.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_worker import pct, run_engine  # noqa: E402

from llm.engine import BatchEngine, EngineConfig  # noqa: E402

QWEN25_05B = dict(  # Qwen/Qwen2.5-0.5B-Instruct config.json
    architectures=["Qwen2ForCausalLM"], hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
    num_attention_heads=14, num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
    rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, hidden_act="silu",
    bos_token_id=151643, eos_token_id=151645, use_sliding_window=False,
)


VARIANTS = {  # name: (use_cuda_graph, use_async_batching, compile level, attention); None lets transformers decide
    "off": (False, None, 0, "sdpa"), "on": (True, None, 0, "sdpa"), "auto": (None, None, 0, "sdpa"),
    "on-async": (True, True, 0, "sdpa"), "compile1": (None, None, 1, "sdpa"), "compile2": (None, None, 2, "sdpa"),
    "varlen": (True, None, 0, "varlen"), "varlen-async": (True, True, 0, "varlen"),
    "varlen-nograph": (False, None, 0, "varlen"), "varlen-compile1": (None, None, 1, "varlen")}


TINY = dict(QWEN25_05B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2)  # same vocabulary and tokenizer: measures what is not the model (HTTP, threads)


def build_model(device: str, arch: str = "qwen2.5-0.5b") -> torch.nn.Module:
    """Random weights of the real architecture (or `tiny`, a 2-layer one), bf16, on the device."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(0)
    config = Qwen2Config(**(TINY if arch == "tiny" else QWEN25_05B))
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    return model.eval()


def make_prompts(n: int, length: int, seed: int = 0) -> list[list[int]]:
    """n distinct random prompts of `length` tokens."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1000, 150000, (n, length), generator=g).tolist()


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bench_generate(model: torch.nn.Module, prompts: list[list[int]], new: int) -> float:
    """tok/s of plain `generate()` on a static batch (all prompts the same length: no padding)."""
    device = next(model.parameters()).device
    ids = torch.tensor(prompts, device=device)
    kwargs = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
    model.generate(ids[:, :16], max_new_tokens=4, do_sample=False, pad_token_id=0)  # warm-up
    sync()
    t0 = time.perf_counter()
    out = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    sync()
    wall = time.perf_counter() - t0
    assert out.shape[1] - ids.shape[1] == new
    return len(prompts) * new / wall


def engine_row(engine: BatchEngine, prompts: list[list[int]], new: int) -> dict[str, float]:
    """Every prompt submitted at once (bench_worker.run_engine); wall, aggregate tok/s, latency quantiles."""
    first = [0.0] * len(prompts)
    wall, latencies, outputs = run_engine(engine, prompts, new, first)
    tokens = sum(map(len, outputs))
    return {"concurrent": len(prompts), "wall_s": round(wall, 3), "tok_s": round(tokens / wall, 1),
            "tokens": tokens, "p50_s": round(pct(latencies, 0.5), 3), "p95_s": round(pct(latencies, 0.95), 3),
            "ttft_p50_s": round(pct(first, 0.5), 3)}


def bench_engine(model: torch.nn.Module, levels: list[int], new: int, length: int, variant: str,
                 batch_tokens: int, profile: bool = False) -> list[dict[str, float]]:
    """The engine at each level; fresh prompts per level (no prefix reuse between levels)."""
    top = max(levels)
    blocks = 2 * top * ((length + new) // 64 + 2)
    cuda_graph, async_batching, level, attn = VARIANTS[variant]
    config = EngineConfig(max_batch=top, kv_blocks=blocks, page_size=64, max_batch_tokens=batch_tokens,
                          cuda_graph=cuda_graph, async_batching=async_batching, compile_level=level, attention=attn)
    t0 = time.perf_counter()
    engine = BatchEngine(model, set(), config)
    rows = []
    try:
        for warm in (1, top):  # warm-up (graph capture, allocator) at both ends of the range
            engine_row(engine, make_prompts(warm, length, seed=7 + warm), 8)
        print(f"engine {variant}: started and warmed in {time.perf_counter() - t0:.1f} s", flush=True)
        if profile:
            from torch.profiler import ProfilerActivity
            from torch.profiler import profile as torch_profile

            with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                engine_row(engine, make_prompts(top, length, seed=55), 16)
            print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=12), flush=True)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12), flush=True)
        for k in levels:
            row = engine_row(engine, make_prompts(k, length, seed=100 + k), new)
            row["variant"] = variant
            rows.append(row)
            print(row, flush=True)
    finally:
        engine.close()
        model.config._attn_implementation = "sdpa"
    return rows


def identical_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two greedy outputs share."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def agreement(model: torch.nn.Module, new: int, length: int) -> dict[str, int]:
    """Greedy tokens of one prompt: engine vs generate() (bf16 may drift after many tokens; count the prefix)."""
    prompt = make_prompts(1, length, seed=3)[0]
    device = next(model.parameters()).device
    ref = model.generate(torch.tensor([prompt], device=device), max_new_tokens=new, min_new_tokens=new,
                         do_sample=False, pad_token_id=0)[0, length:].tolist()
    engine = BatchEngine(model, set(), EngineConfig(max_batch=4, kv_blocks=64, page_size=64, max_batch_tokens=1024))
    try:
        handle = engine.submit(prompt, new)
        while not (update := handle.next_tokens(None))[1]:
            pass
    finally:
        engine.close()
    same = identical_prefix(ref, update[0])
    return {"tokens": new, "identical_prefix": same}


def kernel_check(device: str) -> dict[str, float]:
    """torch's varlen kernel against the per-sequence SDPA reference in fp32 on packed sequences whose queries are
    shorter than their keys (decode steps and a prefill chunk after cached tokens): max abs difference. A wrong
    causal alignment (top-left instead of bottom-right) would show as a difference of order 1."""
    from llm.attention import _call_kernel, per_sequence, probe_native_gqa, varlen_kernel

    probe_native_gqa(device)
    g = torch.Generator(device="cpu").manual_seed(0)
    q_lens, k_lens = [1, 1, 7, 1, 40], [300, 17, 90, 1, 40]
    cu_q = torch.tensor([0, *torch.tensor(q_lens).cumsum(0).tolist()], dtype=torch.int32, device=device)
    cu_k = torch.tensor([0, *torch.tensor(k_lens).cumsum(0).tolist()], dtype=torch.int32, device=device)
    q = torch.randn(sum(q_lens), 14, 64, generator=g).to(device)
    k = torch.randn(sum(k_lens), 2, 64, generator=g).to(device)
    v = torch.randn(sum(k_lens), 2, 64, generator=g).to(device)
    ref = per_sequence(q, k, v, cu_q, cu_k, None)
    got = _call_kernel(varlen_kernel(), q.bfloat16(), k.bfloat16(), v.bfloat16(), cu_q, cu_k, max(q_lens),
                       max(k_lens), None).float()
    return {"max_abs_diff": round(float((got - ref).abs().max()), 4), "ref_abs_mean": round(float(ref.abs().mean()), 4),
            "native_gqa": probe_native_gqa(device)}


def attention_agreement(model: torch.nn.Module, n: int, new: int, length: int) -> dict[str, object]:
    """Greedy tokens of n concurrent requests through the engine with SDPA and with varlen attention: the length
    of the identical prefix per request (bf16 kernels round differently, so late drift is possible)."""
    outputs = {}
    for attn in ("sdpa", "varlen"):
        engine = BatchEngine(model, set(), EngineConfig(max_batch=n, kv_blocks=4 * n * ((length + new) // 64 + 2),
                                                        page_size=64, max_batch_tokens=2048, attention=attn))
        try:
            _, _, outs = run_engine(engine, make_prompts(n, length, seed=11), new, [0.0] * n)
        finally:
            engine.close()
            model.config._attn_implementation = "sdpa"
        outputs[attn] = outs
    prefixes = [identical_prefix(x, y) for x, y in zip(outputs["sdpa"], outputs["varlen"], strict=True)]
    return {"requests": n, "tokens": new, "identical_prefix": prefixes,
            "all_identical": sum(p == new for p in prefixes)}


def bench_http(model: torch.nn.Module, tokenizer_dir: Path, levels: list[int], new: int, length: int,
               device: str, graph: str, attention: str = "auto", batch_tokens: int = 4096) -> list[dict]:
    """`app.py worker` on the random weights; concurrent clients, tokens from `usage`."""
    import httpx

    folder = Path("/tmp/ragscope-random-qwen")
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    for f in tokenizer_dir.iterdir():
        if f.name != "config.json":
            shutil.copy(f, folder / f.name)
    (folder / "generation_config.json").unlink(missing_ok=True)  # no EOS: exactly max_tokens each
    top = max(levels)
    blocks = 2 * top * ((length + new) // 64 + 4)
    env = dict(os.environ, RAGSCOPE_ENGINE_BATCH_TOKENS=str(batch_tokens), PYTHONUNBUFFERED="1",
               RAGSCOPE_ENGINE_CUDA_GRAPH=graph, RAGSCOPE_ENGINE_ATTENTION=attention)
    port = 8765
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "worker", "--model", str(folder), "--device",
                             device, "--max-batch", str(top), "--kv-blocks", str(blocks), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(proc.stdout), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("worker exited:\n" + "".join(log[-30:]))
            time.sleep(0.5)
        else:
            raise RuntimeError("worker did not come up:\n" + "".join(log[-30:]))
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(folder)
        words = tok.decode(make_prompts(1, length, seed=5)[0][: length - 40])
        client = httpx.Client(timeout=300, limits=httpx.Limits(max_connections=top + 8))

        def post(i: int, results: list, t0: float) -> None:
            body = {"model": "m", "max_tokens": new, "messages": [
                {"role": "system", "content": f"Request {i}."}, {"role": "user", "content": f"{i} {words}"}]}
            r = client.post(f"{base}/v1/chat/completions", json=body)
            r.raise_for_status()
            results[i] = (time.perf_counter() - t0, r.json()["usage"])

        rows = []
        for k in [1, *levels]:  # the first 1 warms up
            results: list = [None] * k
            t0 = time.perf_counter()
            threads = [threading.Thread(target=post, args=(i, results, t0)) for i in range(k)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            done = [r for r in results if r is not None]
            gen = sum(u["completion_tokens"] for _, u in done)
            row = {"concurrent": k, "answered": len(done), "wall_s": round(wall, 3), "tok_s": round(gen / wall, 1),
                   "prompt_tokens": done[0][1]["prompt_tokens"] if done else 0,
                   "p50_s": round(statistics.median(s for s, _ in done), 3) if done else None}
            rows.append(row)
            print("http", row, flush=True)
        return rows[1:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--levels", default="1,8,32,64")
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--prompt", type=int, default=500)
    p.add_argument("--batch-tokens", type=int, default=4096)
    p.add_argument("--graphs", default="off,on", help=f"engine variants, of: {', '.join(VARIANTS)}")
    p.add_argument("--http-graph", default="auto", help="RAGSCOPE_ENGINE_CUDA_GRAPH for the worker")
    p.add_argument("--http-attention", default="auto", help="RAGSCOPE_ENGINE_ATTENTION for the worker")
    p.add_argument("--arch", default="qwen2.5-0.5b", choices=["qwen2.5-0.5b", "tiny"],
                   help="tiny: a 2-layer model, to measure the serving overhead (HTTP, threads) on a CPU")
    p.add_argument("--check-kernel", action="store_true", help="varlen kernel vs the SDPA reference (CUDA)")
    p.add_argument("--agree", type=int, default=0, help="check sdpa vs varlen greedy tokens on N requests")
    p.add_argument("--profile", action="store_true", help="profile 16 steps at the top level (first variant)")
    p.add_argument("--skip-reference", action="store_true", help="skip generate() and the agreement check")
    p.add_argument("--http", type=Path, help="folder with the tokenizer files: also measure app.py worker")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    import transformers

    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"device {name}; torch {torch.__version__}; transformers {transformers.__version__}", flush=True)
    levels = [int(x) for x in args.levels.split(",")]
    model = build_model(device, args.arch)
    results: dict[str, object] = {"device": name, "new": args.new, "prompt": args.prompt, "levels": levels}
    ref: dict[str, float] = {}
    if not args.skip_reference:
        results["agreement"] = agreement(model, 32, args.prompt)
        print("engine vs generate, greedy tokens:", results["agreement"], flush=True)
        ref["batch_1"] = round(bench_generate(model, make_prompts(1, args.prompt, 1), args.new), 1)
        ref[f"static_batch_{max(levels)}"] = round(
            bench_generate(model, make_prompts(max(levels), args.prompt, 2), args.new), 1)
    results["generate"] = ref
    if args.check_kernel:
        results["kernel_check"] = kernel_check(device)
        print("varlen kernel vs reference:", results["kernel_check"], flush=True)
    if args.agree:
        try:
            results["attention_agreement"] = attention_agreement(model, args.agree, 64, args.prompt)
        except Exception as exc:  # noqa: BLE001
            results["attention_agreement"] = {"error": f"{type(exc).__name__}: {exc}"}
        print("sdpa vs varlen, greedy tokens:", results["attention_agreement"], flush=True)
    print("generate():", ref, flush=True)
    engine_rows = []
    for variant in args.graphs.split(","):
        try:
            engine_rows += bench_engine(model, levels, args.new, args.prompt, variant, args.batch_tokens,
                                        profile=args.profile and variant == args.graphs.split(",")[0])
        except Exception as exc:  # noqa: BLE001 - report a variant that fails and go on with the rest
            print(f"engine {variant} failed: {type(exc).__name__}: {exc}", flush=True)
            engine_rows.append({"variant": variant, "error": f"{type(exc).__name__}: {exc}"})
    results["engine"] = engine_rows
    if args.http:
        try:
            results["http"] = bench_http(model, args.http, levels, args.new, args.prompt, device, args.http_graph,
                                         args.http_attention, args.batch_tokens)
        except Exception as exc:  # noqa: BLE001
            print(f"http failed: {type(exc).__name__}: {exc}", flush=True)
            results["http"] = {"error": str(exc)}
    print("\n| path | " + " | ".join(f"{k} concurrent" for k in levels) + " |")
    print("|---|" + "---:|" * len(levels))
    for variant in args.graphs.split(","):
        rows = [r for r in engine_rows if r.get("variant") == variant and "tok_s" in r]
        if rows:
            print(f"| engine, {variant} | " + " | ".join(str(r["tok_s"]) for r in rows) + " |")
    if isinstance(results.get("http"), list):
        print("| app.py worker over HTTP | " + " | ".join(str(r["tok_s"]) for r in results["http"]) + " |")
    print(f"generate(): {ref}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
