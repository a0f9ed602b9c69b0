"""TraceEvent: the one thing an agent emits, one per step, with a sentence a person can read.

Each kind's `data` is a typed payload (a TypedDict below): agents build it, the UI reads it, and
`validate_data` checks an event against its kind's schema (every agent's events are tested with it).
Payloads stay plain JSON dicts, so stored runs load without any class. (No `from __future__ import
annotations` here: TypedDict reads Required/NotRequired only from evaluated annotations on Python 3.11.)
"""

import time
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NotRequired, Required, TypedDict

Kind = Literal[
    "plan", "retrieve", "read", "rewrite", "graph_walk", "memory_read", "memory_write", "evidence", "revise",
    "answer", "error",
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]

Message = dict[str, str]  # a chat turn, as in llm.base


# --- typed payloads, one per kind -----------------------------------------------------------------
class HitData(TypedDict):
    """One retrieved passage as shown and stored."""

    rank: int
    chunk_id: str
    doc_id: str
    title: str
    text: str
    score: float
    query: str
    new: NotRequired[bool]  # Iter-RetGen: first retrieved in this iteration


class WalkData(TypedDict, total=False):
    """What a HippoRAG graph walk did: links, seeds, PageRank's top nodes, the subgraph to draw."""

    retriever: str
    entities: list[str]
    links: dict[str, Any]  # entity -> {"node", "cosine"}
    seeds: dict[str, float]
    top_nodes: list[Any]  # [node, score] pairs
    subgraph: dict[str, Any]  # {"nodes": [...], "edges": [...]}
    timings: dict[str, float]
    reason: str
    graph: dict[str, int]  # passages / phrases in the graph
    facts: list[Any]  # [fact, score] pairs (query-to-triple linking)


class PlanData(TypedDict, total=False):
    """A plan: the model's analysis of the question and the first query."""

    analysis: Required[str]
    query: Required[str]
    turns: list[Message]
    prompt: list[Message]
    reply: str
    query_reply: str
    format_failure: bool


class RetrieveData(WalkData, total=False):
    """A search: the query and the passages it returned (plus the walk, for graph retrieval)."""

    query: Required[str]
    hits: Required[list[HitData]]
    turn: int
    iteration: int
    draft: str
    skipped_seen: list[str]
    new: list[str]
    seen: list[str]
    turns: list[Message]
    baseline: bool  # the search of the baseline reading an iterative agent makes first (agents.baseline)


class GraphWalkData(WalkData, total=False):
    """HippoRAG's retrieval: the walk and the passages it ranked."""

    query: Required[str]
    hits: Required[list[HitData]]
    entities: Required[list[str]]
    seeds: Required[dict[str, float]]
    subgraph: Required[dict[str, Any]]


class ChainCheck(TypedDict):
    """Whether the passage holding an answer states it as the answer to the question (agents.grounding)."""

    sentence: str  # the passage's sentence holding the answer
    relation: list[str]  # words of the question's relation found in that sentence (stems)
    entities: list[str]  # question entities the passage names itself
    via: dict[str, str] | None  # a passage read with it that names a question entity and this passage's subject
    missing: NotRequired[list[str]]  # relation words of the question that no sentence of the chain says
    bridge: NotRequired[bool]  # the answer is the linked passage's own subject: the first hop's answer
    passed: bool


class GroundingCheck(TypedDict):
    """One support check of an answer against one passage: that passage alone, does the model answer the same?"""

    doc_id: str
    title: str
    relevance: float  # similarity of the passage to the question
    coverage: float  # share of the answer's words found in the passage
    log_odds: float  # log-likelihood of the answer minus that of "unknown", given this passage alone
    supported: bool
    reply: NotRequired[str]  # the model's own answer from this passage alone
    same_answer: NotRequired[bool]  # that reply gives the answer
    margin: NotRequired[float]  # the log-odds the check needed
    chain: NotRequired[ChainCheck]  # the passage states it as this question's answer (string checks)


class PassageMatch(TypedDict):
    """How much of an answer's words one passage holds."""

    doc_id: str
    title: str
    coverage: float  # share of the answer's content words in the passage (1.0: all of them)
    relevance: float | None  # similarity to the question (None for a passage not read for this answer)
    read: bool  # read for this answer, or only retrieved in the run


class GroundingData(TypedDict, total=False):
    """How an answer is grounded (agents.grounding): its label and the checks behind it."""

    status: Required[str]  # supported | found | guess | none (runs stored earlier: abstained | nothing_relevant)
    reason: str  # for none: abstained | nothing_relevant
    doc_id: str  # the passage that holds (found) or states (supported) the answer
    title: str
    read: bool  # that passage was read for this answer (else only retrieved in the run)
    floor: float  # relevance a passage needs to count as evidence
    best_relevance: float
    margin: float
    holders: list[PassageMatch]  # passages holding every word of the answer
    partial: PassageMatch  # the passage holding most of its words, when none holds them all
    checks: list[GroundingCheck]
    restates: bool  # the answer only repeats words of the question, so no passage was checked for it
    judgement: bool  # a yes-or-no answer, which no passage can hold word for word


class ReadData(TypedDict, total=False):
    """Reading passages: what was read, the prompt and reply, and what the model took from it."""

    passages: Required[list[str]]  # doc ids read
    prompt: list[Message]
    reply: str
    answer: str
    cited: list[str]  # doc ids the answer was found in
    turn: int
    evidence: str
    notes: list[str]
    decision: dict[str, Any]
    decision_prompt: list[Message]
    iteration: int
    previous: str
    changed: bool
    rationale: str
    generation: str
    rationale_prompt: list[Message]
    rationale_reply: str
    grounding: GroundingData
    format_failure: bool
    baseline: bool  # the baseline reading an iterative agent makes first (agents.baseline)


class RewriteData(TypedDict, total=False):
    """A refined query and why."""

    query: Required[str]
    previous_query: Required[str]
    turn: int
    decision: dict[str, Any]
    prompt: list[Message]
    reply: str
    turns: list[Message]
    fallback: str
    format_failure: bool


class LabelledPrompt(TypedDict):
    """One of several prompts a step sent, with what it was for."""

    label: str
    messages: list[Message]


class AnswerData(TypedDict, total=False):
    """The final answer and the passages behind it."""

    answer: Required[str]
    passages: Required[list[str]]  # doc ids used
    parametric: bool
    parametric_document: str
    knowledge_reply: str
    turns: list[Message]
    transcript: list[Message]
    queries: list[str]
    notes: list[str]
    drafts: list[str]
    retrieved: list[str]
    prompt: list[Message]
    prompts: list[LabelledPrompt]  # several prompts, each labelled (RetroRAG's draft comparison: one per reading)
    reply: str
    decision: dict[str, Any]
    grounding: GroundingData
    kept: str  # why this draft was kept (Iter-RetGen's best-supported draft)
    format_failure: bool
    settled: dict[str, Any]  # the baseline rule: which answer was given (chain | baseline), why, and both labels
    memory: "MemoryLabelData"  # TiM: where the reply came from, and what was checked


class MemoryLabelData(TypedDict, total=False):
    """Where a memory agent's reply came from (TiM): a recalled thought, nothing in memory, a general reply, or
    the user's own words acknowledged; `sentence` says only what was checked."""

    status: Required[str]  # recalled | not_in_memory | general | acknowledged
    sentence: Required[str]
    thoughts: list[str]  # ids of the thoughts the reply states
    checks: list[dict[str, Any]]  # the answer checks made: thought id, text, log-odds of yes, passed
    asked: dict[str, Any]  # the check that the question is about the user's own life


class ThoughtData(TypedDict, total=False):
    """One thought of a memory agent (TiM), as shown in a memory event; `id` is '' until stored."""

    id: Required[str]
    text: Required[str]
    score: float  # cosine to the query or to the new thought
    buckets: list[int]  # its bucket in each hash table
    status: str  # active | forgotten | merged | proposed (post-thought, not stored yet)
    related: str  # the thought it merged into or was superseded by
    created: float  # when it was stored (unix seconds)
    subject: str  # the fact record: who it is about ("user", "user's dog")
    attribute: str  # what kind of fact ("home city"); '' for a rule fill
    value: str
    evidence: str  # the user's message it came from, verbatim
    origin: str  # model (record written by the model) | rule (the user's clause) | legacy


class MemoryReadData(TypedDict, total=False):
    """A recall from long-term memory: the buckets looked in, how many thoughts were scored, the top ones."""

    query: Required[str]
    thoughts: Required[list[ThoughtData]]
    probes: list[Any]  # [table, bucket] pairs looked in
    scored: int  # thoughts compared with the query (those sharing a bucket)
    stored: int  # active thoughts in this user's memory
    user: str
    recent_turns: int  # turns of this conversation the answer also sees


class MemoryWriteData(TypedDict, total=False):
    """A change to long-term memory (think, insert, forget, merge), with the thoughts before and after."""

    operation: Required[str]  # think | insert | forget | merge
    before: Required[list[ThoughtData]]
    after: Required[list[ThoughtData]]
    thought: str  # the new thought this operation is about
    compared: list[ThoughtData]  # similar stored thoughts it was compared with
    reason: str
    prompt: list[Message]
    reply: str
    decision: dict[str, Any]
    format_failure: bool


class EvidenceData(TypedDict, total=False):
    """One item of RetroRAG's evidence set: which passage supports which claim about which key entity."""

    id: Required[str]
    claim: Required[str]
    kind: str  # source (a sentence of a passage) | inferential (a claim the passages imply)
    entity: str  # the key entity the claim is about (a passage's title)
    passages: list[str]  # doc ids behind the claim
    numbers: list[int]  # the same passages by their number in the run (1 = first retrieved)
    status: str  # active | withdrawn
    iteration: int  # added in this iteration
    derived_from: list[str]  # ids of the items it rests on (the claim whose entity led to its passage)
    credibility: dict[str, Any]  # the filter's verdicts and log-odds (inferential items)
    withdrawn_by: str  # the item that superseded it (or that it rested on)
    conflicts: list[str]  # items giving another value for the same slot, in a conflict the model did not settle
    withdrawn_at: int
    reason: str


class ReviseData(TypedDict, total=False):
    """A change to an evidence set (RetroRAG): discovery adds credible claims, retroaction withdraws.

    `before`/`after` are the whole set; `passages` the doc ids behind the change; `checks` the
    contradiction checks made (earlier id, new id, option, scores, log-odds).
    """

    before: Required[list[EvidenceData]]
    after: Required[list[EvidenceData]]
    passages: Required[list[str]]
    operation: str  # discover | retroact
    iteration: int
    entities: list[str]  # the question's key entities
    withdrawn: list[str]
    conflicts: list[list[str]]  # [earlier id, new id] pairs left in an unsettled conflict
    added: list[str]
    candidate: dict[str, Any]  # the generated claim and what became of it
    checks: list[dict[str, Any]]
    answer_redone: bool  # the latest answer rested on withdrawn evidence
    reason: str
    decision: dict[str, Any]
    prompt: list[Message]
    reply: str
    format_failure: bool


class ErrorData(TypedDict):
    """A failed run: the error as text."""

    error: str


PAYLOADS: dict[str, type] = {
    "plan": PlanData, "retrieve": RetrieveData, "read": ReadData, "rewrite": RewriteData,
    "graph_walk": GraphWalkData, "memory_read": MemoryReadData, "memory_write": MemoryWriteData,
    "evidence": ReviseData, "revise": ReviseData, "answer": AnswerData, "error": ErrorData,
}


def validate_data(kind: str, data: Mapping[str, Any]) -> list[str]:
    """Problems of `data` against the payload of `kind` (missing or unknown keys, wrong types); [] if none."""
    schema = PAYLOADS.get(kind)
    if schema is None:
        return [f"unknown event kind {kind!r}"]
    return _check_typed_dict(schema, data, kind)


def _check_typed_dict(schema: type, data: Any, where: str) -> list[str]:
    if not isinstance(data, Mapping):
        return [f"{where}: expected a dict, got {type(data).__name__}"]
    hints = typing.get_type_hints(schema)  # Required/NotRequired are stripped; the key sets hold them
    problems = [f"{where}: missing {k!r}" for k in sorted(schema.__required_keys__ - data.keys())]  # type: ignore[attr-defined]
    problems += [f"{where}: unknown key {k!r}" for k in sorted(data.keys() - hints.keys())]
    for key in data.keys() & hints.keys():
        problems += _check(hints[key], data[key], f"{where}.{key}")
    return problems


def _check(hint: Any, value: Any, where: str) -> list[str]:
    """Shallow structural check of a JSON value against a type hint (recursing into lists and TypedDicts)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return []
    if origin in (typing.Union, types.UnionType):
        options = [_check(h, value, where) for h in typing.get_args(hint)]
        return [] if any(not o for o in options) else options[0]
    if typing.is_typeddict(hint):
        return _check_typed_dict(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        (item,) = typing.get_args(hint) or (Any,)
        return [p for i, v in enumerate(value) for p in _check(item, v, f"{where}[{i}]")]
    if origin is dict:
        return [] if isinstance(value, dict) else [f"{where}: expected a dict, got {type(value).__name__}"]
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(hint, type):
        ok = isinstance(value, hint)
    else:
        ok = True
    return [] if ok else [f"{where}: expected {getattr(hint, '__name__', hint)}, got {type(value).__name__}"]


@dataclass(frozen=True)
class TraceEvent:
    """One step of a run. `data` is JSON-serialisable (ids, scores, prompts, subgraph)."""

    agent: str
    kind: Kind
    explanation: str
    data: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    started: float = 0.0
    seconds: float = 0.0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON export and storage."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TraceEvent":
        """Rebuild an event from `to_dict` output (unknown keys are ignored)."""
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in d.items() if k in names})


class Step:
    """Times one node and collects its LLM usage, then builds its event.

    with Step("naive", "read") as step:
        c = llm.chat(...); step.add(c)
    return {"events": [step.event("Wrote an answer of 12 words.", {...})]}
    """

    def __init__(self, agent: str, kind: Kind, run_id: str = "") -> None:
        self.agent, self.kind, self.run_id = agent, kind, run_id
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.llm_calls = self.prompt_tokens = self.completion_tokens = 0

    def __enter__(self) -> "Step":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add(self, usage: Any) -> Any:
        """Count one LLM call (a Completion or Choice); returns it for chaining."""
        self.llm_calls += 1
        self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0))
        self.completion_tokens += int(getattr(usage, "completion_tokens", 0))
        return usage

    def event(self, explanation: str, data: Mapping[str, Any] | None = None, kind: Kind | None = None) -> TraceEvent:
        """The finished step as a TraceEvent, timed from construction to now."""
        return TraceEvent(
            agent=self.agent, kind=kind or self.kind, explanation=explanation, data=dict(data or {}),
            run_id=self.run_id, started=self.started, seconds=round(time.perf_counter() - self._t0, 4),
            llm_calls=self.llm_calls, prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )
