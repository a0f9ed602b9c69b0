"""What the Chat tab suggests and says while it works, for the corpus and agent chosen: the hint in the empty
chat, the example questions (the demo's curated ones, questions from another corpus's own titles, memory examples
for the chat agents), and the waiting step that names what the agent does next."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agents import registry
from ui.common import DEFAULT_CORPUS, load_examples
from ui.markdown import plain

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
EXAMPLES = 6
CORRECTION_EXAMPLE = "On which river stands the town where the Brinehold Bell was cast?"  # data/demo, demo-17
MEMORY_EXAMPLES = [
    "I live in Osaka and I drive a red Volvo.",
    "My sister Aiko works as a nurse.",
    "I am allergic to peanuts.",
    "Where do I live?",
    "What car do I drive?",
    "What does my sister do?",
]
TITLE_QUESTION = "Tell me about {title}."
FIRST_STEP = {  # what each agent does before its first step arrives
    "naive": "searching your documents for passages like the question",
    "auto_rag": "planning (the model reads the question and decides what to search for first)",
    "iter_retgen": "searching your documents with the question",
    "hipporag": "finding the names in the question and walking the knowledge graph from them",
    "retro_rag": "searching your documents for the question's first evidence",
    "tim": "recalling what you told it before",
    "window": "writing a reply from the last few turns",
    "full_history": "writing a reply from the whole conversation",
}
AFTER_STEP = {  # what comes after a step of this kind (agent-specific first)
    ("retro_rag", "retrieve"): "weighing the new passages as evidence",
    ("tim", "answer"): "thinking the turn over to update its memory",
    "plan": "searching",
    "retrieve": "reading the passages found",
    "graph_walk": "reading the passages found",
    "read": "checking the answer and deciding what comes next",
    "rewrite": "searching again",
    "revise": "deciding what to search for next",
    "memory_read": "writing a reply",
    "memory_write": "updating its memory",
    "answer": "finishing",
}


def is_chat_agent(agent: str) -> bool:
    """Whether the agent is a chat agent with a memory (TiM and its baselines) rather than one that searches."""
    try:
        return not registry.get(agent or "").needs_corpus
    except KeyError:
        return False


def _title(agent: str) -> str:
    try:
        return registry.get(agent).title.split(" (")[0]
    except KeyError:
        return agent or "The agent"


def title_questions(titles: list[str], n: int = EXAMPLES) -> list[str]:
    """Questions a corpus's own document titles suggest: 'Tell me about <title>.' for the first distinct ones."""
    seen: dict[str, str] = {}
    for t in titles:
        t = " ".join(str(t).split())
        if t and len(t) <= 80 and t.lower() not in seen:
            seen[t.lower()] = TITLE_QUESTION.format(title=t)
    return list(seen.values())[:n]


def examples(services: Services, corpus: str | None, agent: str, owner: str) -> list[str]:
    """Example questions for this corpus and agent: memory examples for chat agents, the demo's own questions,
    else questions from the corpus's document titles (none for an empty or unreadable corpus)."""
    if is_chat_agent(agent):
        return list(MEMORY_EXAMPLES)
    if not corpus:
        return []
    if corpus == DEFAULT_CORPUS:
        shown = load_examples(n=EXAMPLES)
        if agent == "retro_rag":  # the demo's question where one passage corrects another: RetroRAG withdraws
            return [CORRECTION_EXAMPLE, *shown[: EXAMPLES - 1]]
        return shown
    try:
        docs = services.documents(corpus, owner)
    except LookupError:
        return []
    return title_questions([d.title for d in sorted(docs, key=lambda d: d.title.lower())])


def hint(services: Services, corpus: str | None, agent: str, owner: str) -> str:
    """The empty chat's hint: what to ask this agent about this corpus."""
    name = _title(agent)
    if is_chat_agent(agent):
        return (f"Chat with {name}: tell it something about yourself (“I live in Osaka.”), then ask about it, even "
                "in a new chat (“Where do I live?”). Every recall and memory change appears here as it happens.")
    if not corpus:
        return "Choose a corpus (or create one in the Corpora tab), then ask a question about it."
    if corpus == DEFAULT_CORPUS:
        return (f"Ask {name} a question about the demo corpus, an invented archipelago (the Quillmarch Isles), or "
                "pick an example below. Every search and reading step appears here as it happens.")
    try:
        count = len(services.documents(corpus, owner))
    except LookupError:
        count = 0
    if not count:
        return f"The corpus “{plain(corpus)}” has no documents yet: add files in the Corpora tab, then ask about them."
    return (f"Ask {name} a question about “{plain(corpus)}” ({count} document{'s' if count != 1 else ''}), or pick an "
            "example below. Every search and reading step appears here as it happens.")


def waiting(agent: str, last_kind: str | None = None) -> str:
    """The waiting step's title: what the agent does next ('Auto-RAG: planning: the model reads ……')."""
    if last_kind is None:
        doing = FIRST_STEP.get(agent, "starting")
    else:
        doing = AFTER_STEP.get((agent, last_kind)) or AFTER_STEP.get(last_kind, "thinking")
    return f"{_title(agent)}: {doing}…"
