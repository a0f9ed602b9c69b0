"""Agent runs at once vs one after another, on the demo corpus and the real model behind the batching engine.

    RAGSCOPE_MODEL_CACHE=/work/cache/models python benchmarks/bench_agents_concurrency.py [--agent retro_rag]
        [--runs 4] [--questions demo-05,demo-06,...] [--json benchmarks/results/agents_concurrency.json]

One process, one model. After a warm-up run, the same `--runs` questions are answered three times, each time on a
fresh engine (an empty prefix cache, so no phase reuses another's prompts): one after another; all at once; and all
at once with every constrained choice pausing the batch as `EngineLLM.choose` did before it scored options inside
the running batch. Prints each phase's wall time, the ratios to one-after-another, and whether the answers agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm.base import LLM, Choice, Completion, Message  # noqa: E402
from llm.engine import EngineConfig, EngineLLM  # noqa: E402
from llm.local import TransformersLLM  # noqa: E402
from settings import Settings  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
DEFAULT_QUESTIONS = "demo-05,demo-06,demo-07,demo-08"  # two-hop questions: several retrievals and choices each


class Phases(LLM):
    """The LLM the agents see: a fresh engine per phase over one loaded model; `paused` makes choices pause the
    batch (the direct model scores the options under `exclusive()`, as before)."""

    def __init__(self, local: TransformersLLM, config: EngineConfig) -> None:
        self.local, self.config = local, config
        self.name = local.name
        self.engine: EngineLLM | None = None
        self.paused = False
        self.choices = 0
        self.busy = 0.0  # seconds spent inside LLM calls, summed over calls (overlapping ones counted each)
        self._lock = threading.Lock()

    def fresh(self, paused: bool) -> None:
        """A new engine (empty cache) for the next phase."""
        if self.engine is not None:
            self.engine.engine.close()
        self.engine, self.paused, self.choices, self.busy = EngineLLM(self.local, self.config), paused, 0, 0.0

    def _engine(self) -> EngineLLM:
        assert self.engine is not None
        return self.engine

    def _timed(self, t0: float) -> None:
        with self._lock:
            self.busy += time.perf_counter() - t0

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        t0 = time.perf_counter()
        try:
            return self._engine().chat(messages, max_tokens, stop)
        finally:
            self._timed(t0)

    def stream(self, messages: Sequence[Message], max_tokens: int = 256,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        return self._engine().stream(messages, max_tokens, stop)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        t0 = time.perf_counter()
        with self._lock:
            self.choices += 1
        engine = self._engine()
        try:
            if self.paused:
                with engine.engine.exclusive():
                    return self.local.choose(messages, options)
            return engine.choose(messages, options)
        finally:
            self._timed(t0)

    def describe(self) -> str:
        return f"{self.local.describe()}, batching engine"


def run_all(services: Any, agent: str, questions: list[Any], at_once: bool,
            corpus: str = "demo") -> tuple[float, list[str]]:
    """Answer `questions` (all at once, or one after another); wall seconds and the answers in question order."""
    answers = [""] * len(questions)

    def one(i: int) -> None:
        run = services.run(agent, corpus, questions[i].question)
        for _event in run:
            pass
        if run.error:
            raise RuntimeError(f"{agent} failed on {questions[i].id}: {run.error}")
        answers[i] = run.answer or ""

    t0 = time.perf_counter()
    if at_once:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(questions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i in range(len(questions)):
            one(i)
    return time.perf_counter() - t0, answers


def main() -> None:
    """Measure and print the three phases."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", default="retro_rag")
    p.add_argument("--questions", default=DEFAULT_QUESTIONS, help="comma-separated demo question ids")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    from evaluation.datasets import read_questions
    from llm.bundled import ensure_bundled_model
    from llm.factory import attention_setting
    from services import Services

    wanted = args.questions.split(",")
    by_id = {q.id: q for q in read_questions(DEMO / "questions.jsonl")}
    questions = [by_id[i] for i in wanted]
    warm = next(q for q in by_id.values() if q.id not in wanted)
    home = Path(tempfile.mkdtemp(prefix="rs-agents-bench-"))
    settings = Settings.from_env(home=home)
    folder = ensure_bundled_model(settings.model_cache) if settings.llm_model.startswith("bundled:") \
        else settings.llm_model
    local = TransformersLLM(folder, device="cpu", variant=settings.llm_precision)
    config = EngineConfig(max_batch=settings.engine_max_batch, kv_blocks=settings.engine_kv_blocks,
                          max_batch_tokens=settings.engine_batch_tokens,
                          attention=attention_setting(settings.engine_attention, "cpu"))
    llm = Phases(local, config)
    services = Services(settings, llm=llm)
    services.ensure_demo_corpus()
    print(f"{llm.describe()}; {args.agent} on {', '.join(wanted)}; engine {config}", flush=True)
    llm.fresh(paused=False)
    run_all(services, args.agent, [warm], at_once=False)  # loads the embedder, compiles nothing on CPU
    rows = []
    for name, at_once, paused in (("one after another", False, False), ("all at once", True, False),
                                  ("all at once, choices pause the batch", True, True)):
        llm.fresh(paused)
        wall, answers = run_all(services, args.agent, questions, at_once)
        rows.append({"phase": name, "wall_s": round(wall, 2), "choices": llm.choices,
                     "llm_call_s": round(llm.busy, 2), "answers": answers})
        print(rows[-1], flush=True)
    serial = rows[0]["wall_s"]
    for row in rows:
        row["vs_one_after_another"] = round(row["wall_s"] / serial, 3)
        row["answers_as_one_after_another"] = sum(a == b for a, b in zip(row["answers"], rows[0]["answers"],
                                                                         strict=True))
    llm.engine.engine.close() if llm.engine is not None else None
    print(f"\n| phase ({len(questions)} {args.agent} runs) | wall s | vs one after another | choices | "
          "answers as one after another |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['phase']} | {row['wall_s']} | {row['vs_one_after_another']}x | {row['choices']} | "
              f"{row['answers_as_one_after_another']}/{len(questions)} |")
    if args.json:
        args.json.write_text(json.dumps({"agent": args.agent, "questions": wanted, "llm": llm.describe(),
                                         "engine": config.__dict__, "phases": rows}, indent=2))


if __name__ == "__main__":
    main()
