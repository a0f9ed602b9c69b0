"""The "mixed" CPU precision (RAGSCOPE_LLM_PRECISION=mixed), on a tiny random Qwen2: the decoder's matmuls run in bf16
while the residual stream, norms, attention, KV cache and output head stay fp32, and the batching engine gives the
direct loop's greedy tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from llm.engine import EngineConfig, EngineLLM
from llm.local import Bf16GatedMLP, Bf16Linear, TransformersLLM
from tests.tiny_model import build_tiny_model
from tests.tiny_model import staggered_prompt as ask
from tests.unit.test_llm_bf16 import engine_tokens, greedy_deficits

CONFIG = EngineConfig(max_batch=8, kv_blocks=48, page_size=16, max_batch_tokens=96)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def local(folder: str) -> TransformersLLM:
    return TransformersLLM(folder, device="cpu", variant="mixed")


@pytest.fixture(scope="module")
def reference(folder: str) -> TransformersLLM:
    return TransformersLLM(folder, device="cpu", variant="fp32")


@pytest.fixture()
def engine(local: TransformersLLM) -> Iterator[EngineLLM]:
    llm = EngineLLM(local, CONFIG)
    yield llm
    llm.engine.close()


def test_only_the_decoders_matmuls_hold_bf16_weights(local: TransformersLLM) -> None:
    model = local.model
    layer = model.get_decoder().layers[0]
    assert isinstance(layer.mlp, Bf16GatedMLP)
    assert all(isinstance(getattr(layer.self_attn, p), Bf16Linear) for p in ("q_proj", "k_proj", "v_proj", "o_proj"))
    assert not any(type(m) is torch.nn.Linear for m in model.get_decoder().modules())
    bf16 = {n for n, p in model.named_parameters() if p.dtype == torch.bfloat16}
    assert bf16 and all(n.endswith("proj.weight") for n in bf16)
    assert model.get_input_embeddings().weight.dtype == torch.float32
    assert model.get_output_embeddings().weight.dtype == torch.float32
    assert layer.input_layernorm.weight.dtype == torch.float32
    assert model.dtype == torch.float32  # so the engine sizes and types its KV cache in fp32


def test_the_gated_mlp_is_the_original_computed_in_bf16(folder: str, reference: TransformersLLM) -> None:
    original = reference.model.get_decoder().layers[1].mlp
    mixed = Bf16GatedMLP(original)
    x = torch.randn(5, original.gate_proj.in_features, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        got = mixed(x)
        w = {n: getattr(original, n).weight.to(torch.bfloat16) for n in ("gate_proj", "up_proj", "down_proj")}
        xb = x.to(torch.bfloat16)
        inner = original.act_fn(xb @ w["gate_proj"].T) * (xb @ w["up_proj"].T)
        want = (inner @ w["down_proj"].T).float()
        assert got.dtype == torch.float32
        assert torch.allclose(got, want, rtol=1e-2, atol=1e-3)
        full = original(x)
        assert float((got - full).abs().max()) < 0.02 * float(full.abs().max())  # close to fp32, not equal to it
        assert not torch.equal(got, full)


def test_mixed_logits_stay_close_to_fp32(local: TransformersLLM, reference: TransformersLLM) -> None:
    ids = local.encode(ask(5))
    with torch.inference_mode():
        mixed, full = local.model(input_ids=ids).logits[0], reference.model(input_ids=ids).logits[0]
    assert mixed.dtype == torch.float32
    assert not torch.equal(mixed, full)  # the matmuls really ran in bf16
    assert float((mixed - full).abs().max()) < 0.05 * float(full.abs().max())
    assert (mixed.argmax(-1) == full.argmax(-1)).float().mean() > 0.9


def test_the_engine_keeps_its_kv_cache_in_fp32(engine: EngineLLM) -> None:
    assert engine.chat(ask(1), max_tokens=3).completion_tokens == 3
    cache = engine.engine._manager.batch_processor.cache
    assert {a.cache_tensor.dtype for a in cache.cache_allocators.values()} == {torch.float32}


def test_a_lone_mixed_request_equals_the_mixed_direct_loop(local: TransformersLLM, engine: EngineLLM) -> None:
    for i in range(4):
        prompt = local.encode(ask(i))[0].tolist()
        assert engine_tokens(engine, [prompt], 30)[0] == list(local.generate_ids(torch.tensor([prompt]), 30)), i


def test_batched_mixed_requests_stay_greedy_within_bf16_rounding(local: TransformersLLM, engine: EngineLLM) -> None:
    """As in bf16, the matmuls round differently with the number of rows, so a batched request may take the other
    branch where its two best logits are within bf16 rounding; every token must still be the plain model's greedy
    choice after that request's own tokens, up to that rounding."""
    prompts = [local.encode(ask(i))[0].tolist() for i in range(8)]
    outputs = engine_tokens(engine, prompts, 40)
    deficits = [d for prompt, got in zip(prompts, outputs, strict=True) for d in greedy_deficits(local, prompt, got)]
    assert len(deficits) == 8 * 40
    assert max(deficits) < 0.125
    assert sum(d == 0 for d in deficits) > 0.9 * len(deficits)


def test_the_factory_builds_the_batched_engine_in_mixed_precision(folder: str, tmp_path: Path) -> None:
    from llm.factory import make_llm
    from settings import Settings

    llm = make_llm(Settings.from_env(home=tmp_path, llm_backend="local", llm_engine="batched", llm_precision="mixed",
                                     llm_device="cpu", llm_model=folder))
    try:
        assert isinstance(llm, EngineLLM) and llm.local.variant == "mixed"
        assert llm.chat(ask(1), max_tokens=4).completion_tokens == 4
    finally:
        llm.close()


@pytest.mark.parametrize(("fast", "picked"), [(True, "mixed"), (False, "fp32"), (None, "fp32")])
def test_auto_picks_mixed_only_on_a_cpu_with_bf16_instructions(folder: str, monkeypatch: pytest.MonkeyPatch,
                                                               fast: bool | None, picked: str) -> None:
    from llm import local as local_module

    monkeypatch.setattr(local_module, "cpu_has_fast_bf16", lambda: fast)
    llm = TransformersLLM(folder, device="cpu")
    assert llm.variant == picked
    assert isinstance(llm.model.get_decoder().layers[0].mlp, Bf16GatedMLP) is (picked == "mixed")


def test_mixed_warns_on_a_cpu_without_bf16_instructions(folder: str, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from llm import local as local_module

    monkeypatch.setattr(local_module, "cpu_has_fast_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="llm.local"):
        assert TransformersLLM(folder, device="cpu", variant="mixed").variant == "mixed"
    assert "RAGSCOPE_LLM_PRECISION=mixed" in caplog.text and "AMX-BF16" in caplog.text


def test_a_benchmark_record_names_the_precision(local: TransformersLLM, engine: EngineLLM) -> None:
    from llm.lazy import LazyLLM

    assert local.describe().endswith("(mixed on cpu)")
    assert engine.describe() == f"{local.describe()}, batching engine"
    lazy = LazyLLM(lambda: engine, name="bundled")
    assert lazy.describe() == "bundled"  # nothing loaded yet
    lazy.get()
    assert lazy.describe() == engine.describe()
