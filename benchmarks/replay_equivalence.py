"""Record the agents' runs with the real model once, then replay them to prove a refactor changed nothing.

`record` runs each agent on demo questions with the real default LLM and embedder, storing every LLM request
with its response and every embedded text with its vector, and each run's events (kind, explanation, data,
LLM usage) and answer. `replay` runs the same agents on the same questions with the recorded LLM and embedder:
a request never recorded is an error (so every prompt must be identical), and the events and answers must equal
the recorded ones.

    RAGSCOPE_HOME=/work/cache/home-agents nice -n 10 python benchmarks/replay_equivalence.py record
    python benchmarks/replay_equivalence.py replay      # exit 1 and the first difference when anything changed

The recording (benchmarks/fixtures/replay_agents.json.gz) is replayed by tests/unit/test_replay_equivalence.py.
Embeddings are stored as float16 (and rounded so during the recording too), with exact in-memory vector search,
so the replay sees exactly the vectors the recording saw.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import gzip
import hashlib
import json
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from llm.base import LLM, Choice, Completion, Message  # noqa: E402

FIXTURE = REPO / "benchmarks" / "fixtures" / "replay_agents.json.gz"  # the real model, two questions
HASH_FIXTURE = REPO / "benchmarks" / "fixtures" / "replay_agents_hash.json.gz"  # HashLLM, every demo question
AGENTS = ("naive", "auto_rag", "iter_retgen", "retro_rag", "hipporag")
# the HashLLM recording adds configs that reach the branches the defaults rarely take: Auto-RAG's confirm stop, its
# model-written first query and its own-knowledge fallback; RetroRAG's chain read again and per-token draft scoring
VARIANTS = ("auto_rag:agree_turns=0,max_iterations=6,first_query=model",
            "auto_rag:parametric_fallback=true,max_iterations=2,confirm_stop=false",
            "retro_rag:extra_passages=0,max_iterations=5", "retro_rag:draft_scoring=mean,evidence_first=false")
QUESTIONS = REPO / "data" / "demo" / "questions.jsonl"
# a two-hop question and the corrected-passage one (RetroRAG's), by id: each agent reads, searches again and settles
QUESTION_IDS = ("demo-05", "demo-17")
# event fields that depend on the clock or the run's id, not on what the agent decided
VOLATILE = ("run_id", "started", "seconds")
# and, inside an event, HippoRAG's stage timings and the sentence on its graph's first build ("First added 44 new
# passages to the knowledge graph (12 s). "): its seconds are the clock's, and which run builds the graph is the
# order runs came in (recorded concurrently, any of them)
_CLOCK_KEYS = ("timings",)
_CLOCK_TEXT = re.compile(r"First [^()]*? to the knowledge graph \(\d+ s\)\. ")


def unclocked(value: Any) -> Any:
    """A recorded value without what the clock decides (compared on both sides)."""
    if isinstance(value, dict):
        return {k: unclocked(v) for k, v in value.items() if k not in _CLOCK_KEYS}
    if isinstance(value, list):
        return [unclocked(v) for v in value]
    if isinstance(value, str):
        return _CLOCK_TEXT.sub("", value)
    return value


class ReplayMiss(LookupError):
    """A request the recording does not hold: the prompt (or its parameters) changed."""


def request_key(op: str, messages: Sequence[Message], **params: Any) -> str:
    """A stable key of one LLM request: the operation, every message and every parameter."""
    body = {"op": op, "messages": [dict(m) for m in messages], **params}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class RecordingLLM(LLM):
    """Wraps a real LLM; stores every request (by key, with its messages) and its response."""

    def __init__(self, inner: LLM, calls: dict[str, Any]) -> None:
        self.inner, self.calls, self.name = inner, calls, inner.name

    def _store(self, key: str, op: str, messages: Sequence[Message], params: dict[str, Any], response: Any) -> None:
        entry = self.calls.setdefault(key, {"op": op, "last": messages[-1]["content"][-300:] if messages else "",
                                            "responses": []})
        entry["responses"].append(response)  # the n-th time this request is made, in run order

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        params = {"max_tokens": max_tokens, "stop": list(stop) if stop is not None else None}
        c = self.inner.chat(messages, max_tokens=max_tokens, stop=stop)
        self._store(request_key("chat", messages, **params), "chat", messages, params, asdict(c) | {"seconds": 0.0})
        return Completion(c.text, c.prompt_tokens, c.completion_tokens, 0.0)

    def stream(self, messages: Sequence[Message], max_tokens: int = 256,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        params = {"max_tokens": max_tokens, "stop": list(stop) if stop is not None else None}
        pieces = list(self.inner.stream(messages, max_tokens=max_tokens, stop=stop))
        self._store(request_key("stream", messages, **params), "stream", messages, params, pieces)
        yield from pieces

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        params = {"options": list(options)}
        c = self.inner.choose(messages, options)
        self._store(request_key("choose", messages, **params), "choose", messages, params,
                    asdict(c) | {"seconds": 0.0})
        return Choice(**(asdict(c) | {"seconds": 0.0}))

    def structured(self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int = 256) -> Completion:
        params = {"schema": schema, "max_tokens": max_tokens}
        c = self.inner.structured(messages, schema, max_tokens=max_tokens)
        self._store(request_key("structured", messages, **params), "structured", messages, params,
                    asdict(c) | {"seconds": 0.0})
        return Completion(c.text, c.prompt_tokens, c.completion_tokens, 0.0)

    def describe(self) -> str:
        return self.inner.describe()


class ReplayLLM(LLM):
    """Serves recorded responses by request key, the n-th recorded response to the n-th identical request (the
    real model's scores of one prompt may differ in the last digits between calls); ReplayMiss for a request
    never recorded or made more often than recorded."""

    name = "replay"

    def __init__(self, calls: dict[str, Any]) -> None:
        self.calls = calls
        self.served: dict[str, int] = {}

    def _response(self, key: str, op: str, messages: Sequence[Message]) -> Any:
        entry = self.calls.get(key)
        if entry is None:
            last = messages[-1]["content"] if messages else ""
            raise ReplayMiss(f"{op} request never recorded (the prompt or its parameters changed); its last "
                             f"message:\n{last[:2000]}")
        i = self.served.get(key, 0)
        if i >= len(entry["responses"]):
            raise ReplayMiss(f"{op} request made {i + 1} times, recorded {len(entry['responses'])} times")
        self.served[key] = i + 1
        return entry["responses"][i]

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        key = request_key("chat", messages, max_tokens=max_tokens, stop=list(stop) if stop is not None else None)
        return Completion(**self._response(key, "chat", messages))

    def stream(self, messages: Sequence[Message], max_tokens: int = 256,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        key = request_key("stream", messages, max_tokens=max_tokens, stop=list(stop) if stop is not None else None)
        yield from self._response(key, "stream", messages)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        key = request_key("choose", messages, options=list(options))
        return Choice(**self._response(key, "choose", messages))

    def structured(self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int = 256) -> Completion:
        key = request_key("structured", messages, schema=schema, max_tokens=max_tokens)
        return Completion(**self._response(key, "structured", messages))


_NAME = re.compile(r"\b(?:[A-Z][a-z]+(?:\s+(?:of\s+)?[A-Z][a-z]+)*|\d{3,4})\b")


def _draw(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12], 16)


class HashLLM(LLM):
    """A stand-in for the model that explores the agents' branches in seconds: replies are names or numbers
    taken from the prompt's last message (sometimes 'unknown'), choices score each option pseudo-randomly in
    [-20, 0]; both are fixed by a hash of the request, so a run is the same every time."""

    name = "hash (replay fuzz)"

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        text = messages[-1]["content"] if messages else ""
        found = _NAME.findall(text.split("Question:")[0]) or _NAME.findall(text) or ["unknown"]
        draw = _draw(json.dumps(list(messages)), str(max_tokens))
        reply = "unknown" if draw % 7 == 0 else found[draw % len(found)]
        return Completion(reply, len(json.dumps(list(messages))) // 4, len(reply.split()))

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        key = json.dumps(list(messages))
        scores = {o: -round((_draw(key, o) % 20000) / 1000, 3) for o in options}
        option = max(options, key=lambda o: scores[o])
        return Choice(option=option, scores=scores, prompt_tokens=len(key) // 4, completion_tokens=1)


def _round(vectors: np.ndarray) -> np.ndarray:
    return np.asarray(vectors, dtype=np.float32).astype(np.float16).astype(np.float32)


class RecordingEmbedder:
    """Wraps a real embedder; stores each text's vector (as float16, and returns it so rounded)."""

    def __init__(self, inner: Any, vectors: dict[str, str]) -> None:
        self.inner, self.vectors, self.name = inner, vectors, inner.name

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        out = _round(self.inner.embed(list(texts)))
        for i, text in enumerate(texts):  # a text embedded before keeps its first vector, as the replay serves it
            if text in self.vectors:
                out[i] = np.frombuffer(base64.b64decode(self.vectors[text]), dtype=np.float16).astype(np.float32)
            else:
                self.vectors[text] = base64.b64encode(out[i].astype(np.float16).tobytes()).decode()
        return out


class ReplayEmbedder:
    """Serves recorded vectors by text; ReplayMiss for a text never embedded in the recording."""

    def __init__(self, vectors: dict[str, str], dim: int, name: str) -> None:
        self.vectors, self.dim, self.name = vectors, dim, name

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            if text not in self.vectors:
                raise ReplayMiss(f"text never embedded in the recording: {text[:300]!r}")
            rows.append(np.frombuffer(base64.b64decode(self.vectors[text]), dtype=np.float16).astype(np.float32))
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)


def demo_questions(ids: Sequence[str] = QUESTION_IDS) -> list[str]:
    """The demo questions of these ids, in that order."""
    rows = {r["id"]: r for r in (json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip())}
    return [rows[i]["question"] for i in ids]


def event_record(event: Any) -> dict[str, Any]:
    """An event as compared: everything but its clock and run id, as JSON would store it."""
    d = {k: v for k, v in event.to_dict().items() if k not in VOLATILE}
    return json.loads(json.dumps(d, ensure_ascii=False))


class NoLLM(LLM):
    """The services' own LLM during a recording or replay: every run gets its own (run_all), so none is used."""

    name = "none"

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        raise ReplayMiss("an LLM call outside a run")

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        raise ReplayMiss("an LLM call outside a run")


def agent_spec(spec: str) -> tuple[str, dict[str, Any] | None]:
    """'auto_rag' -> ('auto_rag', None); 'auto_rag:agree_turns=0,first_query=model' -> the agent and that config
    (values read as JSON where they parse, else as text)."""
    name, _, fields = spec.partition(":")
    if not fields:
        return name, None
    config: dict[str, Any] = {}
    for item in fields.split(","):
        key, _, value = item.partition("=")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    return name, config


def run_label(agent: str, question: str) -> str:
    """The key of one run's LLM requests in the recording."""
    return f"{agent} | {question}"


def run_all(llm_for: Callable[[str], LLM], embedder: Any, home: Path, agents: Sequence[str],
            questions: Sequence[str], concurrency: int = 1, progress: bool = False) -> list[dict[str, Any]]:
    """Each agent (a name, or a name and config: agent_spec) on each question on a fresh demo corpus, each run
    with its own LLM
    (`llm_for(run_label)`), `concurrency` runs at once; the runs as compared, in agent then question order."""
    from services import Services
    from settings import Settings
    from storage.vector_store import InMemoryVectorStore

    settings = Settings.from_env(home=home, db_url=f"sqlite:///{home / 'ragscope.db'}", chroma_path=home / "chroma",
                                 demo_corpus=False, openie="spacy")
    services = Services(settings, llm=NoLLM(), embedder=embedder, vectors=InMemoryVectorStore())
    services.ensure_demo_corpus()

    def one(agent: str, question: str) -> dict[str, Any]:
        name, config = agent_spec(agent)
        run = services.run(name, "demo", question, config)
        run.deps = dataclasses.replace(run.deps, llm=llm_for(run_label(agent, question)))
        events = [event_record(e) for e in run]
        if progress:
            print(f"{agent:12} {run.answer!r:40.40} {len(events)} events {run.error}", flush=True)
        return {"agent": agent, "question": question, "answer": run.answer, "error": run.error, "events": events}

    jobs = [(a, q) for a in agents for q in questions]
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(lambda job: one(*job), jobs))


def load(path: Path = FIXTURE) -> dict[str, Any]:
    """The stored recording."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def record(path: Path, agents: Sequence[str], ids: Sequence[str], concurrency: int = 1, fake: bool = False) -> None:
    """Run the agents with the real model and embedder (`concurrency` runs at once, their LLM calls batched);
    store each run's requests, the vectors and the runs at `path`."""
    from llm.factory import make_llm
    from retrieval.embedder import LazyEmbedder
    from settings import Settings

    settings = Settings.from_env()
    calls: dict[str, dict[str, Any]] = {}  # per run: its requests by key
    vectors: dict[str, str] = {}
    inner_embedder = LazyEmbedder(settings.embedder, settings.embedder_precision)
    model = HashLLM() if fake else make_llm(settings)
    embedder = RecordingEmbedder(inner_embedder, vectors)
    questions = demo_questions(ids)
    with tempfile.TemporaryDirectory() as tmp:
        runs = run_all(lambda label: RecordingLLM(model, calls.setdefault(label, {})), embedder, Path(tmp), agents,
                       questions, concurrency, progress=True)
    data = {"model": model.describe(), "embedder": settings.embedder, "dim": embedder.dim, "agents": list(agents),
            "questions": questions, "calls": calls, "vectors": vectors, "runs": runs}
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as f:
        json.dump(data, f, ensure_ascii=False, sort_keys=True)
    requests = sum(len(c) for c in calls.values())
    print(f"recorded {len(runs)} runs, {requests} distinct LLM requests, {len(vectors)} vectors -> {path}")


def first_difference(expected: Any, actual: Any, where: str = "") -> str:
    """Where two JSON values first differ, with both sides; '' when equal."""
    if type(expected) is not type(actual):
        return f"{where}: {expected!r} != {actual!r}"
    if isinstance(expected, dict):
        for k in sorted(set(expected) | set(actual)):
            if k not in expected or k not in actual:
                return f"{where}.{k}: only in {'recording' if k in expected else 'replay'}"
            if d := first_difference(expected[k], actual[k], f"{where}.{k}"):
                return d
        return ""
    if isinstance(expected, list):
        for i, (x, y) in enumerate(zip(expected, actual, strict=False)):
            if d := first_difference(x, y, f"{where}[{i}]"):
                return d
        if len(expected) != len(actual):
            return f"{where}: {len(expected)} items recorded, {len(actual)} replayed"
        return ""
    return "" if expected == actual else f"{where}:\n  recorded: {expected!r}\n  replayed: {actual!r}"


def replay(data: dict[str, Any], home: Path, agents: Sequence[str] | None = None) -> str:
    """Replay the recording; '' when every run is identical, else the first difference."""
    agents = list(agents or data["agents"])
    llms: dict[str, ReplayLLM] = {}

    def llm_for(label: str) -> LLM:
        llms[label] = ReplayLLM(data["calls"].get(label, {}))
        return llms[label]

    embedder = ReplayEmbedder(data["vectors"], data["dim"], data["embedder"])
    runs = run_all(llm_for, embedder, home, agents, data["questions"])
    expected = [r for r in data["runs"] if r["agent"] in agents]
    for want, got in zip(expected, runs, strict=True):
        if d := first_difference(unclocked(want), unclocked(got), f"{want['agent']} on {want['question']!r}"):
            return d
    for label, llm in llms.items():
        unused = sum(len(c["responses"]) - llm.served.get(k, 0) for k, c in llm.calls.items())
        if unused:
            return f"{label}: {unused} recorded LLM responses were never asked for"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("record", "replay"))
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    parser.add_argument("--agents", nargs="*", default=list(AGENTS),
                        help="agents, each a name or name:field=value,... for a config (agent_spec)")
    parser.add_argument("--questions", nargs="*", default=list(QUESTION_IDS), help="demo question ids (record)")
    parser.add_argument("--llm", choices=("real", "hash"), default="real",
                        help="record with the real default model, or with HashLLM (fast; every demo question)")
    parser.add_argument("--concurrency", type=int, default=8, help="runs at once while recording (their LLM calls "
                        "share the batched engine's decode steps; each run keeps its own requests)")
    args = parser.parse_args(argv)
    if args.mode == "record":
        record(args.fixture, args.agents, args.questions, args.concurrency, args.llm == "hash")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        diff = replay(load(args.fixture), Path(tmp), args.agents)
    print(diff or "replay identical")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
