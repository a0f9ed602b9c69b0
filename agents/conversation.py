"""Answering one turn of a chat: the prompt and step shared by TiM and the history baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.base import Deps, RAGState, bind, option, short
from agents.events import AnswerData, Message, Step, TraceEvent
from llm.base import LLM

CHAT_SYSTEM = "You are a friendly assistant. Reply to the user's last message in one or two short sentences."
MEMORY_SYSTEM = (
    CHAT_SYSTEM + " You remember these facts about the user from earlier conversations, newest first (a newer "
    "fact replaces an older one); use them when the user asks about themselves:\n{thoughts}"
)
PASSAGES_SYSTEM = "\nPassages from the knowledge base that may help:\n{passages}"
NO_THOUGHTS = "- (nothing remembered yet)"


def recent_turns(history: list[Message], turns: int) -> list[Message]:
    """The last `turns` user turns of a history with their replies (all of it when turns < 0)."""
    if turns < 0:
        return list(history)
    if turns == 0:
        return []
    starts = [i for i, m in enumerate(history) if m["role"] == "user"]
    return list(history[starts[-turns]:]) if len(starts) >= turns else list(history)


def chat_messages(system: str, history: list[Message], question: str) -> list[Message]:
    """System turn, the earlier turns as chat messages, then the new user turn."""
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]


def clean_reply(text: str) -> str:
    """A reply without surrounding blank space, cut at its first blank line."""
    return text.strip().split("\n\n")[0].strip()


def answer_step(agent: str, run_id: str, llm: LLM, messages: list[Message], max_tokens: int,
                shown_turns: int, notes: list[str] | None = None, passages: list[str] | None = None
                ) -> tuple[str, TraceEvent]:
    """Generate the reply to the last turn; returns (reply, answer event)."""
    with Step(agent, "answer", run_id) as step:
        completion = step.add(llm.chat(messages, max_tokens=max_tokens, stop=["\n\n", "\nUser:"]))
        reply = clean_reply(completion.text)
        failed = not reply
        reply = reply or "(no reply)"
        memory = f", {len(notes)} remembered thoughts" if notes is not None else ""
        explanation = (f"Replies '{short(reply, 100)}' from {shown_turns} earlier turns{memory} "
                       f"({completion.prompt_tokens} prompt tokens).")
        data = AnswerData(answer=reply, passages=list(passages or []), prompt=messages, reply=completion.text,
                          turns=messages[1:-1])
        if notes is not None:
            data["notes"] = list(notes)
        if failed:
            data["format_failure"] = True
        event = step.event(explanation, data)
    return reply, event


# --- the two baselines share one node and one graph ----------------------------------------------
@dataclass(frozen=True)
class HistoryConfig:
    """Settings of a history-in-the-prompt baseline."""

    turns: int = option(4, "Earlier user turns (with replies) put in the prompt; -1 = the whole conversation.",
                        min=-1, max=1000)
    max_tokens: int = option(48, "Most tokens of a reply.", min=8, max=512)


def respond_from_history(state: RAGState, deps: Deps, config: HistoryConfig) -> dict[str, Any]:
    """Reply from the last turns of this conversation only (no long-term memory)."""
    shown = recent_turns(list(state.get("history", [])), config.turns)
    messages = chat_messages(CHAT_SYSTEM, shown, state["question"])
    reply, event = answer_step(state.get("agent", ""), state.get("run_id", ""), deps.llm, messages,
                               config.max_tokens, sum(m["role"] == "user" for m in shown))
    return {"answer": reply, "used_ids": [], "events": [event]}


def build_history_graph(deps: Deps, config: HistoryConfig) -> StateGraph:
    """respond."""
    graph = StateGraph(RAGState)
    graph.add_node("respond", bind(respond_from_history, deps, config))
    graph.add_edge(START, "respond")
    graph.add_edge("respond", END)
    return graph
