"""Think-in-Memory (Liu et al., 2023, arXiv 2311.08719): a chat agent whose thoughts persist per user.

No official code is public; this follows the paper and makes each choice visible in the trace:
- Recall before answering: the user turn is embedded and hashed with F(x) = argmax([xR; -xR]) in each
  of several tables (memory/lsh.py); only thoughts sharing a bucket are scored by cosine, the top k kept.
  Multi-probe (the next-best buckets) is an option because small memories rarely share one exact bucket.
- The reply sees those thoughts plus the last few turns of this conversation (and passages, over RAG).
- The reply sees those thoughts plus the last few turns of this conversation (and passages, over RAG). A
  question about the user's own life (it asks and says I / my) is first filed under a topic by a constrained
  choice (job, home, pet, car, hobby, family, food, allergy, other); when that topic has active thoughts the
  reply quotes them in the second person ("You told me: On weekends you go surfing."), so the small model can
  neither shorten nor ignore them.
- Post-think after answering: a constrained yes/no decides whether the user's message states a fact about the
  user; only then its clauses become thoughts, in the user's own words rewritten to the third person by rule
  ("On weekends I go surfing." -> "On weekends the user goes surfing."): when and where are kept, and no
  few-shot example can leak into memory. Thoughts come from the user's words, not from the model's reply, so
  a hallucinated reply never becomes a memory.
- Memory operations: each new thought is filed under a topic (the same constrained choice) and stored with
  that label ("job: The user works as a baker."). Then, by rule: the same words as an active thought of the
  topic -> merge (the newer wording kept); a shared named entity ("Bruno") -> merge into one joined thought
  (same head entity); a single-valued topic (job, home, pet, car, hobby, food) -> forget its active thoughts,
  superseded by the new one; else insert. A four-way relation choice between two thoughts (same / update /
  detail / unrelated) said 'update' for every pair at 0.5B; one sentence's topic is a choice it can make.
"""

from agents.tim.graph import SPEC, build_graph
from agents.tim.nodes import TiMConfig, TiMState

__all__ = ["SPEC", "TiMConfig", "TiMState", "build_graph"]
