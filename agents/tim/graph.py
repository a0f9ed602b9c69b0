"""TiM's graph: only the wiring of the nodes in `nodes.py`."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from agents.base import AgentSpec, Deps, bind
from agents.tim.nodes import NAME, TiMConfig, TiMState, operate, post_think, recall, respond, retrieve


def build_graph(deps: Deps, config: TiMConfig) -> StateGraph:
    """recall -> (retrieve, over RAG) -> respond -> post_think -> operate."""
    graph = StateGraph(TiMState)
    nodes = (recall, retrieve, respond, post_think, operate) if config.use_corpus else (
        recall, respond, post_think, operate)
    for node in nodes:
        graph.add_node(node.__name__, bind(node, deps, config))
    graph.add_edge(START, nodes[0].__name__)
    for a, b in zip(nodes, nodes[1:], strict=False):
        graph.add_edge(a.__name__, b.__name__)
    graph.add_edge(nodes[-1].__name__, END)
    return graph


SPEC = AgentSpec(
    name=NAME,
    title="Think-in-Memory (TiM: recall, answer, post-think)",
    paper="Liu et al., 2023 — Think-in-Memory: Recalling and Post-thinking Enable LLMs with Long-Term Memory",
    summary="Recalls this user's thoughts (LSH buckets once the memory is large); answers a question about the user "
            "only with a recalled fact the model checks answers it, else says it was not told; post-thinks a fact "
            "into a subject / attribute / value record beside the user's own words, and forgets the old value of the "
            "same attribute.",
    config_cls=TiMConfig,
    build_graph=build_graph,
    needs_corpus=False,
)
