"""Auto-RAG (Yu et al., 2024): the LLM holds a multi-turn dialogue with the retriever until it knows enough.

Each turn the model reads the new documents, notes what is useful ("Intermediate Answer_k"), decides
whether it can answer, and either refines its query ("Refined Query: ...") or answers ("Final Answer:
..."). Small local models do not follow that free-text format, so every decision here is a constrained
choice (`llm.choose` over yes/no, with a log-odds margin) and every piece of text is a short few-shot fill
that stops at a newline; the paper's dialogue is then assembled from those pieces and shown as the
transcript. A fill that comes back empty falls back to something safe and is marked `format_failure`.
When the turn cap is reached the model writes what it knows itself (the official code's "parametric
knowledge" document) and answers from that and the passages it read.
"""

from agents.auto_rag.graph import SPEC, build_graph
from agents.auto_rag.nodes import AutoRAGConfig, AutoRAGState, clean_fill, fallback_query, key_entity

__all__ = ["SPEC", "AutoRAGConfig", "AutoRAGState", "build_graph", "clean_fill", "fallback_query", "key_entity"]
