"""Think-in-Memory (Liu et al., 2023, arXiv 2311.08719): a chat agent whose thoughts persist per user.

No official code is public; this follows the paper and makes each choice visible in the trace:
- Recall before answering: the user turn is embedded and hashed with F(x) = argmax([xR; -xR]) in each
  of several tables (memory/lsh.py); only thoughts sharing a bucket are scored by cosine, the top k kept.
  Multi-probe (the next-best buckets) is an option because small memories rarely share one exact bucket.
- The reply sees those thoughts plus the last few turns of this conversation (and passages, over RAG).
- Post-think after answering: a constrained yes/no decides whether the user's message states a fact
  about the user; only then a one-line few-shot fill rewrites it as short third-person thoughts ("The
  user lives in Porto."). Thoughts come from the user's words, not from the model's reply, so a
  hallucinated reply never becomes a memory.
- Memory operations: each new thought is compared with the most similar stored ones (cosine above a
  threshold) by a constrained choice: same (merge: the new one is kept as merged into the old), update
  (forget: the old one is withdrawn, kept with status forgotten, superseded by the new), detail (merge
  about the same head entity: one joined thought replaces both), unrelated (insert).
"""

from agents.tim.graph import SPEC, build_graph
from agents.tim.nodes import TiMConfig, TiMState, split_thoughts

__all__ = ["SPEC", "TiMConfig", "TiMState", "build_graph", "split_thoughts"]
