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


# Payloads shaped as the agents write them (keys and nesting from real runs on the demo corpus).
GUILD, VILLAGE = "ae077618370b", "e9061546cc4a"
CHECK = {"doc_id": GUILD, "title": "Guild of Tidewardens", "relevance": 0.4759, "coverage": 1.0, "log_odds": 4.113,
         "supported": False}
GROUNDING = {"status": "guess", "floor": 0.3, "best_relevance": 0.7074, "margin": 5.0, "checks": [CHECK]}
WALK_HITS = [
    {"rank": 1, "chunk_id": f"{VILLAGE}:0", "doc_id": VILLAGE, "title": "Mirrowdale", "score": 0.05922,
     "query": "q", "text": "Mirrowdale is a small farming village in the heart of Brannoch, strung along the banks "
                           "of the River Ansel. Its hall is that of the Guild of Tidewardens."},
    {"rank": 2, "chunk_id": f"{GUILD}:0", "doc_id": GUILD, "title": "Guild of Tidewardens", "score": 0.022,
     "query": "q", "text": "The Guild of Tidewardens was founded in 1744 by Corwen Halloway. Pilots of the March."},
]


def plan_event() -> TraceEvent:
    """Auto-RAG's plan: its analysis, first query and the model's replies."""
    return TraceEvent(agent="auto_rag", kind="plan", explanation="Plans: I need to know who founded the guild.",
                      data={"analysis": "I need to know who founded the guild", "query": "Who founded the guild?",
                            "reply": "I need to know who founded the guild.", "query_reply": "",
                            "prompt": [{"role": "system", "content": "Say which facts you need."}]},
                      llm_calls=1, prompt_tokens=92, completion_tokens=20, seconds=4.7)


def auto_rag_read_event() -> TraceEvent:
    """Auto-RAG's read: evidence, notes, its draft, and the decision with its support checks and scores."""
    decision = {"enough": False, "draft": "Corwen Halloway", "status": "guess", "checks": [CHECK], "margin": 5.0,
                "evidence_scores": {"1": -1.4168, "2": -2.0213},
                "agree": {"same_turns": 1, "needed": 2, "stable": False, "in_passage": True,
                          "title": "Guild of Tidewardens", "log_odds": 4.113, "margin": -2.0, "not_rejected": True,
                          "stop": False}}
    return TraceEvent(agent="auto_rag", kind="read", explanation="Turn 1: its answer so far is 'Corwen Halloway'.",
                      data={"turn": 1, "evidence": "Mirrowdale: Mirrowdale is a small farming village.",
                            "notes": ["Mirrowdale: Mirrowdale is a small farming village."], "decision": decision,
                            "passages": [VILLAGE, GUILD], "reply": "Corwen Halloway", "answer": "Corwen Halloway",
                            "grounding": GROUNDING,
                            "decision_prompt": [{"role": "system", "content": "Pick the sentence."}]},
                      llm_calls=3, prompt_tokens=1165, completion_tokens=12, seconds=14.2)


def hipporag_walk_event() -> TraceEvent:
    """HippoRAG's walk: a phrase node and a passage node naming the same village, a synonym pair, words that are
    no entity ('heart', 'banks', 'small farming village'), a name left without an edge ('march'), seeds by
    node id, links and timings."""
    sub = {"nodes": [
        {"id": "mirrowdale", "label": "mirrowdale", "type": "seed", "score": 0.216},
        {"id": f"passage:{VILLAGE}", "label": "Mirrowdale", "type": "passage", "score": 0.059},
        {"id": f"passage:{GUILD}", "label": "Guild of Tidewardens", "type": "passage", "score": 0.022},
        {"id": "river ansel", "label": "river ansel", "type": "phrase", "score": 0.023},
        {"id": "the river ansel", "label": "the river ansel", "type": "phrase", "score": 0.004},
        {"id": "guild of tidewardens", "label": "guild of tidewardens", "type": "phrase", "score": 0.007},
        {"id": "corwen halloway", "label": "corwen halloway", "type": "phrase", "score": 0.006},
        {"id": "banks", "label": "banks", "type": "phrase", "score": 0.018},
        {"id": "heart", "label": "heart", "type": "phrase", "score": 0.017},
        {"id": "small farming village", "label": "small farming village", "type": "phrase", "score": 0.017},
        {"id": "it", "label": "it", "type": "phrase", "score": 0.01},
        {"id": "march", "label": "march", "type": "phrase", "score": 0.0064}],
        "edges": [
            {"source": "mirrowdale", "target": f"passage:{VILLAGE}", "type": "contains", "weight": 1.0},
            {"source": "mirrowdale", "target": "river ansel", "type": "relation", "weight": 1.0},
            {"source": "river ansel", "target": "the river ansel", "type": "synonym", "weight": 0.9},
            {"source": "mirrowdale", "target": "heart", "type": "relation", "weight": 1.0},
            {"source": "mirrowdale", "target": "banks", "type": "relation", "weight": 1.0},
            {"source": "mirrowdale", "target": "small farming village", "type": "relation", "weight": 1.0},
            {"source": "it", "target": "mirrowdale", "type": "relation", "weight": 1.0},
            {"source": "guild of tidewardens", "target": f"passage:{GUILD}", "type": "contains", "weight": 1.0},
            {"source": "guild of tidewardens", "target": "corwen halloway", "type": "relation", "weight": 1.0},
            {"source": "mirrowdale", "target": "guild of tidewardens", "type": "relation", "weight": 1.0},
            {"source": "heart", "target": "march", "type": "relation", "weight": 1.0}]}
    data = {"query": "Who founded the guild whose hall is in the village of Mirrowdale?", "hits": WALK_HITS,
            "entities": ["mirrowdale"], "links": {"mirrowdale": {"node": "mirrowdale", "cosine": 1.0}},
            "seeds": {"mirrowdale": 0.333, f"passage:{VILLAGE}:0": 0.05, f"passage:{GUILD}:0": 0.03},
            "top_nodes": [["mirrowdale", 0.216], ["river ansel", 0.023]], "subgraph": sub,
            "timings": {"ner": 0.0068, "linking": 1.15, "ppr": 0.0106, "total": 1.168},
            "graph": {"passages": 42, "phrases": 309}, "reason": ""}
    return TraceEvent(agent="hipporag", kind="graph_walk", explanation="Walked the graph from “mirrowdale”.",
                      data=data, seconds=1.2)


CREATED = 1796683061.724  # 2026-12-07 22:37:41 UTC


def tim_events() -> list[TraceEvent]:
    """TiM's recall and a memory write, with thought ids, buckets and creation times."""
    thought = {"id": "46a8a19d0ffb", "text": "home: The user lives in Osaka.", "score": 0.5946, "buckets": [0, 3],
               "status": "active", "created": CREATED}
    recall = TraceEvent(agent="tim", kind="memory_read", explanation="Recalls 1 of 2 thoughts.",
                        data={"query": "Where does the user live?", "thoughts": [thought], "probes": [[0, 0], [0, 14]],
                              "scored": 1, "stored": 2, "user": "browser-0123456789abcdef", "recent_turns": 2})
    write = TraceEvent(agent="tim", kind="memory_write", explanation="Remembered 'home: The user lives in Osaka.'.",
                       data={"operation": "insert", "before": [], "after": [thought],
                             "thought": "home: The user lives in Osaka.",
                             "decision": {"topic": "home", "topic_margin": 5.12, "relation": "unrelated",
                                          "topic_scores": {"home": -0.15, "job": -5.66, "other": -5.27}}})
    return [recall, write]


def retro_revise_event() -> TraceEvent:
    """RetroRAG's discovery: an evidence set of long claims (one new), with the credibility filter's numbers."""
    claims = ["Mirrowdale is a small farming village in the heart of Brannoch, strung along the banks of the River "
              "Ansel, known for its stone sheep-folds, its autumn cattle fair and its unexpectedly grand hall.",
              "The Guild of Tidewrights is the oldest shipping guild in the Quillmarch Isles, chartered in 1712 to "
              "organise cargo voyages between the islands and the mainland.",
              "The Guild of Tidewardens was founded in 1744 by Corwen Halloway as a brotherhood of harbour pilots "
              "and watchmen who guide vessels through the shoals."]
    items = [{"id": f"e{i}", "claim": c, "kind": "source", "entity": c.split(" is ")[0].split(" was ")[0],
              "passages": [VILLAGE], "numbers": [i], "status": "active", "iteration": 1}
             for i, c in enumerate(claims, 1)]
    new = {**items[0], "id": "e4", "kind": "inferential", "claim": claims[0]}
    return TraceEvent(agent="retro_rag", kind="revise", explanation="Round 1: keeps a sentence of passage 1 as e4.",
                      data={"before": items, "after": [*items, new], "passages": [VILLAGE], "operation": "discover",
                            "iteration": 1, "added": ["e4"], "entities": ["Mirrowdale"],
                            "decision": {"relevance": {"log_odds": -0.412, "margin": 0.0, "passed": False,
                                                       "bridge": {"margin": -3.0, "passed": True}}}},
                      llm_calls=2, prompt_tokens=689, completion_tokens=2, seconds=7.6)
