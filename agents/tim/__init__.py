"""Think-in-Memory (Liu et al., 2023, arXiv 2311.08719): a chat agent whose thoughts persist per user.

No official code is public; this follows the paper and makes each choice visible in the trace (docs/agents/tim.md):
- Recall before answering: the user turn, rewritten to the third person, is ranked against the user's thoughts
  (scored whole while the memory is small, through the paper's LSH buckets once it is large).
- A question about the user's own life is answered only with a recalled fact that the model, asked the question
  with that fact alone, answers with the fact's value rather than "not stated"; else "You haven't told me ... yet".
- Post-think after answering: a fact the user tells becomes a subject / attribute / value record written by the
  model under a JSON schema, kept beside the user's own words (its value must stand in them; else the user's clause
  is kept by rule).
- Memory operations per fact: the same attribute of the same subject with a new value forgets the old thought; the
  same value merges; "also / another" adds; anything else is inserted.
"""

from agents.tim.graph import SPEC, build_graph
from agents.tim.nodes import TiMConfig, TiMState

__all__ = ["SPEC", "TiMConfig", "TiMState", "build_graph"]
