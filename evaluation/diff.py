"""A step-aligned diff of two stored runs of one question: which passages each retrieved, where their answers
diverged, and what each cost. Pure functions over stored run dicts (with their events)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RETRIEVAL_KINDS = ("retrieve", "graph_walk")
ANSWERING_KINDS = ("read", "answer")


@dataclass(frozen=True)
class Side:
    """One run's step in an aligned pair."""

    number: int  # 1-based step number in its run
    kind: str
    explanation: str
    passages: list[str]  # doc ids the step retrieved (retrieval steps)
    answer: str | None  # the draft or answer the step wrote (read / answer steps)


@dataclass(frozen=True)
class Pair:
    """Two aligned steps (either may be missing) and whether they did the same."""

    a: Side | None
    b: Side | None
    same: bool


@dataclass(frozen=True)
class RunDiff:
    """The whole diff."""

    pairs: list[Pair]
    diverged_at: int | None  # index into pairs of the first pair that differs
    answer_a: str
    answer_b: str
    retrieved_a: list[str]
    retrieved_b: list[str]
    cost: list[tuple[str, float, float]]  # (measure, run a, run b)
    titles: dict[str, str] = field(default_factory=dict)

    @property
    def only_a(self) -> list[str]:
        """Passages only run a retrieved."""
        return [d for d in self.retrieved_a if d not in self.retrieved_b]

    @property
    def only_b(self) -> list[str]:
        """Passages only run b retrieved."""
        return [d for d in self.retrieved_b if d not in self.retrieved_a]

    @property
    def both(self) -> list[str]:
        """Passages both runs retrieved."""
        return [d for d in self.retrieved_a if d in self.retrieved_b]


def _side(number: int, event: Mapping[str, Any]) -> Side:
    data = event.get("data") or {}
    kind = str(event.get("kind", ""))
    passages = list(dict.fromkeys(str(h.get("doc_id", "")) for h in data.get("hits") or [])) \
        if kind in RETRIEVAL_KINDS else []
    answer = str(data["answer"]) if kind in ANSWERING_KINDS and "answer" in data else None
    return Side(number, kind, str(event.get("explanation", "")), passages, answer)


def _role(kind: str) -> str:
    """What a step is for: a dense search and a graph walk both retrieve, so they pair up."""
    return "retrieval" if kind in RETRIEVAL_KINDS else kind


def _same(a: Side | None, b: Side | None) -> bool:
    if a is None or b is None or _role(a.kind) != _role(b.kind):
        return False
    if a.kind in RETRIEVAL_KINDS:
        return a.kind == b.kind and a.passages == b.passages
    if a.answer is not None or b.answer is not None:
        return (a.answer or "").strip().lower() == (b.answer or "").strip().lower()
    return a.explanation == b.explanation


def align(events_a: Sequence[Mapping[str, Any]], events_b: Sequence[Mapping[str, Any]]) -> list[Pair]:
    """Pair the steps of two runs in order: only steps of one role pair up (a search and a graph walk both
    retrieve), and among the pairings that keep
    the most, those that did the same thing are preferred (a weighted longest common subsequence); a step the
    other run did not make stands alone, where it happened."""
    a = [_side(i, e) for i, e in enumerate(events_a, 1)]
    b = [_side(i, e) for i, e in enumerate(events_b, 1)]
    n, m = len(a), len(b)
    best = [[0] * (m + 1) for _ in range(n + 1)]  # best[i][j]: score of aligning a[i:] with b[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            skip = max(best[i + 1][j], best[i][j + 1])
            pair = best[i + 1][j + 1] + 2 + _same(a[i], b[j]) if _role(a[i].kind) == _role(b[j].kind) else -1
            best[i][j] = max(skip, pair)
    pairs: list[Pair] = []
    i = j = 0
    while i < n or j < m:
        if (i < n and j < m and _role(a[i].kind) == _role(b[j].kind)
                and best[i][j] == best[i + 1][j + 1] + 2 + _same(a[i], b[j])):
            pairs.append(Pair(a[i], b[j], _same(a[i], b[j])))
            i, j = i + 1, j + 1
        elif j < m and (i == n or best[i][j] == best[i][j + 1]):
            pairs.append(Pair(None, b[j], False))
            j += 1
        else:
            pairs.append(Pair(a[i], None, False))
            i += 1
    return pairs


def _retrieved(events: Sequence[Mapping[str, Any]]) -> tuple[list[str], dict[str, str]]:
    ids: list[str] = []
    titles: dict[str, str] = {}
    for event in events:
        if event.get("kind") in RETRIEVAL_KINDS:
            for hit in (event.get("data") or {}).get("hits") or []:
                doc = str(hit.get("doc_id", ""))
                titles.setdefault(doc, str(hit.get("title", "")))
                if doc not in ids:
                    ids.append(doc)
    return ids, titles


def diff_runs(run_a: Mapping[str, Any], run_b: Mapping[str, Any]) -> RunDiff:
    """The step-aligned diff of two stored runs."""
    events_a, events_b = run_a.get("events") or [], run_b.get("events") or []
    pairs = align(events_a, events_b)
    diverged = next((i for i, p in enumerate(pairs) if not p.same), None)
    retrieved_a, titles = _retrieved(events_a)
    retrieved_b, titles_b = _retrieved(events_b)
    titles.update({k: v for k, v in titles_b.items() if k not in titles})

    def measure(run: Mapping[str, Any], key: str) -> float:
        return float(run.get(key) or 0)

    cost = [("LLM calls", measure(run_a, "llm_calls"), measure(run_b, "llm_calls")),
            ("prompt tokens", measure(run_a, "prompt_tokens"), measure(run_b, "prompt_tokens")),
            ("completion tokens", measure(run_a, "completion_tokens"), measure(run_b, "completion_tokens")),
            ("retrieval steps", float(sum(e.get("kind") in RETRIEVAL_KINDS for e in events_a)),
             float(sum(e.get("kind") in RETRIEVAL_KINDS for e in events_b))),
            ("seconds", round(measure(run_a, "seconds"), 2), round(measure(run_b, "seconds"), 2))]
    return RunDiff(pairs, diverged, str(run_a.get("answer") or ""), str(run_b.get("answer") or ""),
                   retrieved_a, retrieved_b, cost, titles)


def first_divergence(diff: RunDiff) -> str:
    """One sentence: where the two runs first did something different."""
    if diff.diverged_at is None:
        return "Both runs took the same steps, retrieved the same passages and gave the same answer."
    pair = diff.pairs[diff.diverged_at]
    a = f"step {pair.a.number} ({pair.a.kind})" if pair.a else "no step"
    b = f"step {pair.b.number} ({pair.b.kind})" if pair.b else "no step"
    if pair.a and pair.b and pair.a.kind in RETRIEVAL_KINDS and pair.b.kind in RETRIEVAL_KINDS:
        what = ("retrieved different passages" if pair.a.passages != pair.b.passages
                else "retrieved the same passages in different ways")
    elif pair.a and pair.b and pair.a.kind == pair.b.kind:
        what = (f"wrote different answers (‘{pair.a.answer}’ vs ‘{pair.b.answer}’)"
                if pair.a.answer is not None or pair.b.answer is not None else "did different things")
    else:
        what = "took different steps"
    return f"The runs first differ at A's {a} and B's {b}: they {what}."
