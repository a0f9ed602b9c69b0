"""Hand-built TraceEvents the UI tests share."""

from __future__ import annotations

from agents.events import TraceEvent

HITS = [
    {"rank": 1, "chunk_id": "aaa:0", "doc_id": "aaa", "title": "Carrowdene Observatory",
     "text": "The observatory where the Grey Lantern comet was first sighted.", "score": 0.71, "query": "q"},
    {"rank": 2, "chunk_id": "bbb:0", "doc_id": "bbb", "title": "Tobiah | Venn",
     "text": "An astronomer <b>born</b> in Duvessa.", "score": 0.52, "query": "q"},
]


def retrieve_event(**kw) -> TraceEvent:
    """A naive retrieve step with two hits."""
    return TraceEvent(agent="naive", kind="retrieve", explanation="Searched for 'comet' — 2 passages.",
                      data={"query": "Which comet?", "hits": HITS}, run_id="r1", seconds=0.0123, **kw)


def read_event() -> TraceEvent:
    """A read step with its prompt, reply and citations."""
    prompt = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Passages: … Question?"}]
    return TraceEvent(agent="naive", kind="read", explanation="Read 2 passages and answered 'Grey Lantern'.",
                      data={"prompt": prompt, "reply": "Grey Lantern", "answer": "Grey Lantern",
                            "passages": ["aaa", "bbb"], "cited": ["aaa"]},
                      run_id="r1", seconds=1.5, llm_calls=1, prompt_tokens=120, completion_tokens=3)


def graph_event() -> TraceEvent:
    """A graph walk over a four-node subgraph."""
    sub = {"nodes": [{"id": "p1", "label": "carrowdene", "type": "seed", "score": 0.9},
                     {"id": "p2", "label": "grey lantern", "type": "phrase", "score": 0.4},
                     {"id": "d1", "label": "Carrowdene Observatory", "type": "passage", "score": 0.7},
                     {"id": "lonely", "label": "isolated", "type": "phrase", "score": 0.0}],
           "edges": [{"source": "p1", "target": "p2", "type": "relation", "weight": 1.0},
                     {"source": "p1", "target": "d1", "type": "in_passage", "weight": 0.5},
                     {"source": "p2", "target": "missing", "type": "relation", "weight": 1.0}]}
    return TraceEvent(agent="hipporag", kind="graph_walk", explanation="Walked the graph from 1 seed.",
                      data={"query": "comet", "subgraph": sub}, seconds=0.2)
