"""Greedy outputs of the bundled model, to show a refactor changed no token: run it before and after, then compare.

    RAGSCOPE_MODEL_CACHE=/work/cache/models python benchmarks/greedy_outputs.py before.json
    RAGSCOPE_MODEL_CACHE=/work/cache/models python benchmarks/greedy_outputs.py after.json --compare before.json

For fp32 and mixed: five replies of the direct model, the same five from the batching engine (all at once), and the
direct model's choice scores; `--compare` prints whether each is identical.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm.bundled import ensure_bundled_model  # noqa: E402
from llm.engine import EngineConfig, EngineLLM  # noqa: E402
from llm.local import TransformersLLM  # noqa: E402
from settings import Settings  # noqa: E402

PROMPTS = ["What is the capital of France? Answer in one word.", "Write a haiku about rivers.",
           "Which town lies on the river Senn? Passage: Tallow is a port town on the river Senn.",
           "List three prime numbers.", "Explain what a KV cache is in one sentence."]


def outputs(folder: Path, variant: str) -> dict[str, object]:
    """Direct replies, engine replies and direct choice scores of one variant."""
    model = TransformersLLM(folder, device="cpu", variant=variant)
    messages = [[{"role": "user", "content": p}] for p in PROMPTS]
    result: dict[str, object] = {"direct": [model.chat(m, max_tokens=24).text for m in messages],
                                 "choose": model.choose(messages[2], ["Tallow", "Paris", "no idea"]).scores}
    engine = EngineLLM(model, EngineConfig(max_batch=8, kv_blocks=64))
    replies = [""] * len(messages)

    def run(i: int) -> None:
        replies[i] = engine.chat(messages[i], max_tokens=24).text

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(messages))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.engine.close()
    result["engine"] = replies
    return result


def main() -> None:
    """Write the outputs; with --compare, say what differs from an earlier file."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--compare", type=Path)
    args = p.parse_args()
    folder = ensure_bundled_model(Settings.from_env().model_cache)
    data = {variant: outputs(folder, variant) for variant in ("fp32", "mixed")}
    args.out.write_text(json.dumps(data, indent=1))
    if args.compare:
        earlier = json.loads(args.compare.read_text())
        for variant, now in data.items():
            print(variant, {key: "identical" if now[key] == earlier[variant][key] else "DIFFERENT" for key in now})


if __name__ == "__main__":
    main()
