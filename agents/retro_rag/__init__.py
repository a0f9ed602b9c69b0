"""RetroRAG (Xiao et al., 2025): retrieval-augmented generation whose evidence is revised, not only accumulated.

Forward-only multi-hop agents cannot undo a wrong step. RetroRAG keeps an evidence set in the graph state
and loops over four parts (no official code is public; this follows the paper's description):
- evidence collation: each search's new passages are filed as *source evidence*, one item per passage:
  its sentence closest to the question, about the key entity the passage is about (its title);
- evidence discovery: from the new passages the model writes one *inferential* claim ("[n] claim"), kept
  only if its passage names everything it names, the passage states it and it bears on the question
  (two constrained yes/no choices); entities still without evidence become entity-centred queries;
- retroactive revision: new items are checked against earlier items about the same entity (a constrained
  choice); a contradicted or superseded item is withdrawn, with every item that rested on it, and the
  answer built on it is redone;
- the answerer answers from the active evidence and judges its answer (grounded in the evidence,
  supported, the kind of thing asked); a reliable answer ends the loop, else the next query is searched,
  up to a cap.
A 0.5B model writes poor free text, so the only free text is the claim fill (one line) and the answer.
"""

from agents.retro_rag.graph import SPEC, build_graph
from agents.retro_rag.nodes import RetroRAGConfig, RetroRAGState

__all__ = ["SPEC", "RetroRAGConfig", "RetroRAGState", "build_graph"]
