"""Auto-RAG (Yu et al., 2024): the LLM holds a multi-turn dialogue with the retriever until it knows enough.

The paper's loop, plan -> retrieve -> extract evidence -> decide -> refine or answer, made to work with a
0.5B model: the evidence of each turn is a sentence the model *chooses* (constrained) from the new passages,
so it cannot drift to invented names; the decision looks at the passages: the model answers from everything
read (the shared reader), and it stops only when a passage gives that answer (the support check of
`agents.grounding`: relevance floor, the answer's words, the answer against "unknown" given that passage
alone), or when a refined search brings a relevant passage holding its answer and the model, asked which
passage answers the question (a constrained choice: a passage number, or 0 for none), picks that one, or when
independent signals agree: its answer stayed the same over the last few turns (new searches no longer change
it), the answer is in a relevant passage, and the support check of that passage leans towards it (a lower bar
than "supported"; no extra LLM call). The label stays "the model's own guess" unless the support check passed.
It keeps its best-supported answer across
turns, since a later turn may drift. Otherwise it refines its query (a short few-shot fill; one that repeats
an earlier search or borrows an example's name falls back to the question plus the evidence's key entity). At
the cap it answers with that answer, labelled a guess;
the official code's parametric-knowledge document is an option. The paper's dialogue is assembled from these
pieces and shown as the transcript.
"""

from agents.auto_rag.graph import SPEC, build_graph
from agents.auto_rag.nodes import AutoRAGConfig, AutoRAGState, clean_fill, fallback_query, key_entity

__all__ = ["SPEC", "AutoRAGConfig", "AutoRAGState", "build_graph", "clean_fill", "fallback_query", "key_entity"]
