"""HippoRAG's OpenIE with an LLM: the paper's one-shot NER prompt, then triples conditioned on the entities."""

from __future__ import annotations

import json
import re
from typing import Any

from llm.base import LLM
from retrieval.hipporag.openie.extraction import Extraction, dedupe_phrases, fallback_entities

NER_SYSTEM = "Your task is to extract named entities from the given paragraph. Respond with a JSON list of entities."
NER_EXAMPLE_IN = """Ada Lovelace
Ada Lovelace (1815-1852) was an English mathematician, the daughter of Lord Byron. She worked with Charles Babbage on his proposed Analytical Engine in London and published the first algorithm intended for such a machine in 1843."""
NER_EXAMPLE_OUT = '{"named_entities": ["Ada Lovelace", "1815", "1852", "English", "Lord Byron", "Charles Babbage", "Analytical Engine", "London", "1843"]}'
TRIPLE_SYSTEM = (
    "Your task is to construct an RDF (Resource Description Framework) graph from the given passages and named "
    "entity lists. Respond with a JSON list of triples, with each triple representing a relationship in the RDF "
    "graph. Pay attention to the following requirements:\n- Each triple should contain at least one, but preferably "
    "two, of the named entities in the list for each passage.\n- Clearly resolve pronouns to their specific names "
    "to maintain clarity."
)
TRIPLE_EXAMPLE_OUT = """{"triples": [
["Ada Lovelace", "born in", "1815"], ["Ada Lovelace", "died in", "1852"],
["Ada Lovelace", "nationality", "English"], ["Ada Lovelace", "profession", "mathematician"],
["Ada Lovelace", "daughter of", "Lord Byron"], ["Ada Lovelace", "worked with", "Charles Babbage"],
["Charles Babbage", "proposed", "Analytical Engine"], ["Ada Lovelace", "worked in", "London"],
["Ada Lovelace", "published", "first algorithm"], ["first algorithm", "intended for", "Analytical Engine"],
["first algorithm", "published in", "1843"]
]}"""
QUERY_NER_SYSTEM = "You're a very effective entity extraction system."
QUERY_NER_EXAMPLE_IN = "Please extract all named entities that are important for solving the questions below.\n" \
    "Place the named entities in json format.\n\nQuestion: Which university did the author of Dune attend?"
QUERY_NER_EXAMPLE_OUT = '{"named_entities": ["Dune"]}'


_TRIPLE_LIST = re.compile(r'\[\s*"([^"\]]*)"\s*,\s*"([^"\]]*)"\s*,\s*"([^"\]]*)"\s*\]')


def first_json_object(text: str) -> Any | None:
    """The first balanced {...} in a reply parsed as JSON, or None (quotes and escapes respected)."""
    start = text.find("{")
    while start != -1:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        return json.loads(text[start : i + 1])
                    except json.JSONDecodeError:
                        break
        start = text.find("{", start + 1)
    return None


def ner_messages(passage: str) -> list[dict[str, str]]:
    """The one-shot NER prompt for a passage."""
    return [
        {"role": "system", "content": NER_SYSTEM},
        {"role": "user", "content": NER_EXAMPLE_IN},
        {"role": "assistant", "content": NER_EXAMPLE_OUT},
        {"role": "user", "content": passage},
    ]


def triple_messages(passage: str, entities: list[str]) -> list[dict[str, str]]:
    """The one-shot triple-extraction prompt, conditioned on the passage's named entities."""
    frame = "Convert the paragraph into a JSON dict, it has a named entity list and a triple list.\nParagraph:\n```\n{}\n```\n\n{}"
    return [
        {"role": "system", "content": TRIPLE_SYSTEM},
        {"role": "user", "content": frame.format(NER_EXAMPLE_IN, NER_EXAMPLE_OUT)},
        {"role": "assistant", "content": TRIPLE_EXAMPLE_OUT},
        {"role": "user", "content": frame.format(passage, json.dumps({"named_entities": entities}))},
    ]


class LLMExtractor:
    """HippoRAG's OpenIE with an LLM: one-shot NER, then one-shot triple extraction given those entities."""

    def __init__(self, llm: LLM, max_tokens: int = 512) -> None:
        self.llm = llm
        self.name = f"llm:{getattr(llm, 'name', 'llm')}:v1"
        self.max_tokens = max_tokens
        self.failures = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def _ask(self, messages: list[dict[str, str]], key: str) -> list[Any]:
        reply = self.llm.chat(messages, max_tokens=self.max_tokens)
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        data = first_json_object(reply.text)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            self.failures += 1
            if key == "triples":  # a reply cut off by max_tokens still holds whole [s, r, o] lists
                return [list(m) for m in _TRIPLE_LIST.findall(reply.text)]
            return []
        return data[key]

    def extract(self, passages: list[tuple[str, str]]) -> dict[str, Extraction]:
        """Two LLM calls per passage; unparsable replies count in `failures` (whole triples are still salvaged)."""
        out: dict[str, Extraction] = {}
        for pid, text in passages:
            ents = dedupe_phrases(e for e in self._ask(ner_messages(text), "named_entities") if isinstance(e, str))
            raw = self._ask(triple_messages(text, ents), "triples") if ents else []
            triples = tuple(
                (str(t[0]), str(t[1]), str(t[2])) for t in raw
                if isinstance(t, list) and len(t) == 3 and all(isinstance(x, (str, int, float)) for x in t)
            )
            out[pid] = Extraction(tuple(ents), triples)
        return out

    def query_entities(self, question: str) -> list[str]:
        """HippoRAG's query NER prompt; capitalised words when the reply does not parse."""
        messages = [
            {"role": "system", "content": QUERY_NER_SYSTEM},
            {"role": "user", "content": QUERY_NER_EXAMPLE_IN},
            {"role": "assistant", "content": QUERY_NER_EXAMPLE_OUT},
            {"role": "user", "content": QUERY_NER_EXAMPLE_IN.rsplit("Question:", 1)[0] + f"Question: {question}"},
        ]
        ents = [e for e in self._ask(messages, "named_entities") if isinstance(e, str)]
        return dedupe_phrases(ents) or fallback_entities(question)
