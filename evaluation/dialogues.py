"""The memory benchmark: play long dialogues turn by turn to chat agents and score the final probes.

A probe turn carries `expect` (right at the end of the conversation) and `stale` (true earlier, now wrong);
it is correct when the normalised reply contains a normalised `expect` string and no `stale` one
(../shared/data/memory/README.md). Each dialogue starts from an empty memory (its own bench user).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluation.metrics import normalize_answer

if TYPE_CHECKING:
    from services import Services

COLUMNS = ("dialogues", "probes", "probe_accuracy", "updated_accuracy", "stale_answers", "thoughts", "llm_calls",
           "prompt_tokens", "seconds", "format_failures", "errors")


@dataclass(frozen=True)
class Turn:
    """One user turn; probes carry the expected and the stale answers."""

    user: str
    expect: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()

    @property
    def is_probe(self) -> bool:
        """Whether this turn is scored."""
        return bool(self.expect)


@dataclass(frozen=True)
class Dialogue:
    """A conversation to play from its first turn."""

    id: str
    turns: tuple[Turn, ...] = field(default_factory=tuple)


def read_dialogues(path: Path, limit: int | None = None) -> list[Dialogue]:
    """Dialogues from a jsonl file, one a line."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            turns = (Turn(t["user"], tuple(t.get("expect", [])), tuple(t.get("stale", []))) for t in d["turns"])
            out.append(Dialogue(str(d["id"]), tuple(turns)))
    return out[:limit] if limit else out


def score_reply(reply: str, turn: Turn) -> tuple[bool, bool]:
    """(correct, stale): contains an expected answer and no stale one; mentions a stale answer."""
    text = normalize_answer(reply)
    stale = any(normalize_answer(s) and normalize_answer(s) in text for s in turn.stale)
    right = any(normalize_answer(e) in text for e in turn.expect)
    return right and not stale, stale


def play(services: Services, agent: str, dialogue: Dialogue, config: dict[str, Any] | None = None
         ) -> list[dict[str, Any]]:
    """Play one dialogue to one agent from an empty memory; one row per turn."""
    user = f"bench:{agent}:{dialogue.id}"
    services.memory.clear(user)
    history: list[dict[str, str]] = []
    rows = []
    for i, turn in enumerate(dialogue.turns):
        run = services.run(agent, "", turn.user, config, user=user, conversation=f"bench-{dialogue.id}",
                           history=history)
        for _event in run:
            pass
        history += [{"role": "user", "content": turn.user}, {"role": "assistant", "content": run.answer}]
        rows.append({
            "dialogue": dialogue.id, "turn": i, "user": turn.user, "reply": run.answer, "run_id": run.run_id,
            "llm_calls": run.llm_calls, "prompt_tokens": run.prompt_tokens, "seconds": round(run.seconds, 3),
            "format_failures": sum(bool(e.data.get("format_failure")) for e in run.events),
            "error": run.error or "",
        })
    return score_rows(dialogue, rows)


def score_rows(dialogue: Dialogue, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each probe turn's score to its row (rows in turn order)."""
    for turn, row in zip(dialogue.turns, rows, strict=True):
        if turn.is_probe:
            correct, stale = score_reply(row["reply"], turn)
            row.update(expect=list(turn.expect), stale=list(turn.stale), correct=correct, stale_answer=stale,
                       updated=bool(turn.stale))
    return rows


def play_mem0(services: Services, dialogue: Dialogue) -> tuple[list[dict[str, Any]], int, Any]:
    """The mem0 baseline (evaluation/mem0_baseline.py; needs requirements-mem0.txt and the model worker)."""
    try:
        from evaluation import mem0_baseline
    except ImportError as exc:  # pragma: no cover - depends on the optional install
        raise RuntimeError("the mem0 baseline needs `pip install -r requirements-mem0.txt`") from exc
    rows, stored, log = mem0_baseline.play(services, dialogue)
    return score_rows(dialogue, rows), stored, log


def summarise(rows: Sequence[dict[str, Any]], thoughts: Sequence[int]) -> dict[str, Any]:
    """Accuracy over probes and over probes of updated facts, stale answers, per-turn costs."""
    probes = [r for r in rows if "correct" in r]
    updated = [r for r in probes if r["updated"]]
    by_turn: dict[int, list[int]] = {}
    for r in rows:
        by_turn.setdefault(r["turn"], []).append(r["prompt_tokens"])
    mean = lambda xs: round(statistics.fmean(xs), 4) if xs else 0.0  # noqa: E731
    return {
        "dialogues": len({r["dialogue"] for r in rows}), "turns": len(rows), "probes": len(probes),
        "probe_accuracy": mean([float(r["correct"]) for r in probes]),
        "updated_accuracy": mean([float(r["correct"]) for r in updated]),
        "stale_answers": sum(r["stale_answer"] for r in probes),
        "thoughts": mean([float(t) for t in thoughts]),
        "llm_calls": mean([r["llm_calls"] for r in rows]),
        "prompt_tokens": mean([r["prompt_tokens"] for r in rows]),
        "seconds": mean([r["seconds"] for r in rows]),
        "format_failures": sum(r["format_failures"] for r in rows),
        "errors": sum(bool(r["error"]) for r in rows),
        "prompt_tokens_by_turn": [round(statistics.fmean(by_turn[t]), 1) for t in sorted(by_turn)],
    }


def run_dialogue_bench(services: Services, agents: Sequence[str], path: Path, limit: int | None = None,
                       config: dict[str, Any] | None = None, show_progress: bool = True,
                       concurrency: int = 1) -> dict[str, Any]:
    """Play every dialogue to every agent (`concurrency` dialogues at once, each from its own empty memory; the
    engine batches their model calls); summary per agent plus per-turn rows in the file's order."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    dialogues = read_dialogues(path, limit)
    results: dict[str, Any] = {"dialogues": str(path), "n_dialogues": len(dialogues), "agents": {}, "per_turn": {},
                               "concurrency": max(1, concurrency)}
    for agent in agents:
        t0 = time.perf_counter()
        extra: dict[str, Any] = {}
        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="dialogue") as pool:
            if agent == "mem0":
                mem0 = list(tqdm(pool.map(lambda d: play_mem0(services, d), dialogues), total=len(dialogues),
                                 desc=agent, disable=not show_progress))
                played = [r for r, _, _ in mem0]
                thoughts = [n for _, n, _ in mem0]
                calls = [c for _, _, log in mem0 for c in log.calls]
                failed = [c for c in calls if c.get("error") or not c.get("parsed")]
                extra = {"mem0_llm_calls": len(calls), "mem0_errors": sum(bool(c.get("error")) for c in calls),
                         "mem0_unparsed": sum(not c.get("error") and not c.get("parsed") for c in calls),
                         "mem0_failure_rate": round(len(failed) / len(calls), 3) if calls else 0.0}
                results.setdefault("mem0_calls", calls)
            else:
                played = list(tqdm(pool.map(lambda d, a=agent: play(services, a, d, config), dialogues),
                                   total=len(dialogues), desc=agent, disable=not show_progress))
                thoughts = [services.memory.count(f"bench:{agent}:{d.id}") for d in dialogues]
        rows = [row for dialogue_rows in played for row in dialogue_rows]
        results["agents"][agent] = {**summarise(rows, thoughts), **extra,
                                    "total_seconds": round(time.perf_counter() - t0, 1)}
        results["per_turn"][agent] = rows
    return results


def format_table(results: dict[str, Any]) -> str:
    """The summary as an aligned text table, one row per agent."""
    header = ["agent", *COLUMNS]
    lines = [header] + [[agent, *(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in COLUMNS)]
                        for agent, row in results["agents"].items()]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines)
