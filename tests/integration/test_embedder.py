"""The real bundled embedder (all-MiniLM-L6-v2) in fp32 and in `mixed` precision (bf16 matrix multiplies)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedder import SentenceTransformerEmbedder

pytestmark = pytest.mark.integration

TEXTS = [
    "The Feast of Reeds is held every spring in Pellowick, a town set on both banks of the River Amsel.",
    "Carrowdene Observatory first sighted the comet Halden-Vey in 1893.",
    "Which comet was first sighted at Carrowdene Observatory?",
    "short",
    "A much longer passage. " * 40,
]


@pytest.fixture(scope="module")
def fp32() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(precision="fp32")


@pytest.fixture(scope="module")
def mixed() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(precision="mixed")


def test_mixed_vectors_stay_within_rounding_of_fp32(fp32: SentenceTransformerEmbedder,
                                                     mixed: SentenceTransformerEmbedder) -> None:
    a, b = fp32.embed(TEXTS), mixed.embed(TEXTS)
    assert b.dtype == np.float32 and b.shape == a.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cosine = (a * b).sum(axis=1)
    assert cosine.min() > 0.9995
    assert not np.array_equal(a, b)  # the matmuls really ran in bf16
    # the question still finds its passage first, with the same margin to within rounding
    assert int(np.argmax(b[:2] @ b[2])) == int(np.argmax(a[:2] @ a[2])) == 1


def test_mixed_holds_bf16_weights_only_in_linears(mixed: SentenceTransformerEmbedder) -> None:
    import torch

    from retrieval.bf16 import Bf16Dense

    model = mixed._model
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    dense = [m for m in model.modules() if isinstance(m, Bf16Dense)]
    assert len(dense) == 6 * 6 + 1  # per layer q, k, v, attention output, intermediate, output; and BERT's pooler
    assert sum(not m.fp32_out for m in dense) == 6  # the feed-forward interior stays bf16
    bf16 = {n for n, p in model.named_parameters() if p.dtype == torch.bfloat16}
    assert bf16 and all(".weight" in n or ".bias" in n for n in bf16)
    assert all("LayerNorm" not in n and "embeddings" not in n for n in bf16)


@pytest.mark.parametrize(("fast", "picked"), [(True, "mixed"), (False, "fp32"), (None, "fp32")])
def test_auto_picks_mixed_only_on_a_cpu_with_bf16_instructions(monkeypatch: pytest.MonkeyPatch, fast: bool | None,
                                                               picked: str) -> None:
    from llm import precision as local
    from retrieval.embedder import _pick_precision

    monkeypatch.setattr(local, "cpu_has_fast_bf16", lambda: fast)
    assert _pick_precision("auto", "cpu") == picked
    assert _pick_precision("auto", "cuda") == "fp32"
    assert _pick_precision("fp32", "cpu") == "fp32"


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="fp32, mixed"):
        SentenceTransformerEmbedder(precision="int4")
