"""RetroRAG (Xiao et al., 2025): retrieval-augmented generation whose evidence is revised, not only accumulated.

Forward-only multi-hop agents cannot undo a wrong step. RetroRAG keeps an evidence set in the graph state
and loops over four parts (no official code is public; this follows the paper's description):
- evidence collation: each search's new passages are filed as *source evidence*, one item per passage:
  its sentence closest to the question, about the key entity the passage is about (its title);
- evidence discovery: a constrained choice picks the new passage that helps most, and its sentence closest
  to what is sought (a *bridge* sentence first: one naming a question entity, or the entity searched for,
  and another) becomes an *inferential* claim, kept if it bears on the question (a constrained yes/no: the
  credibility filter; a bridge needs a lower margin, as a yes/no on the whole question undervalues a first
  hop); entities (spaCy's named entities, as HippoRAG's) still without evidence become entity-centred
  queries, those of the kind the question asks through ("the country where…": a place) first;
- retroactive revision: when a new item and an earlier one give different values (a name, a number) for one
  slot (the earlier claim with its value blanked), each value is scored under each passage; when each passage
  prefers its own value by the margin, the earlier item is withdrawn with every item that rested on it, and
  an answer built on it is redone;
- the answerer is the shared reader over the question's own top passages (as the naive baseline reads them),
  then over the evidence chain (each kept claim's passage, then what the search for its entity found) followed
  by the question's own; the shared support check judges each answer, the first supported one is kept and
  ends the loop, else the next query is searched, up to a cap. At the cap with no supported answer, each draft
  is scored under every set of passages a draft was read from and the probabilities are averaged (RAG-Sequence's
  marginalisation over passages), so no draft is favoured by being scored under its own reading.
A 0.5B model writes poor free text, so every decision is a constrained choice; the only free text is the answer.
"""

from agents.retro_rag.graph import SPEC, build_graph
from agents.retro_rag.nodes import RetroRAGConfig, RetroRAGState

__all__ = ["SPEC", "RetroRAGConfig", "RetroRAGState", "build_graph"]
