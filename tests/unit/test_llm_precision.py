"""The CPU precisions below fp32, on a tiny random Qwen2: bf16 (RAGSCOPE_LLM_PRECISION=bf16: weights and the engine's
KV cache in bf16) and mixed (the default on CPUs with AMX-BF16: the decoder's matmuls in bf16, the residual stream,
norms, attention, KV cache and output head in fp32). In each, the batching engine gives the direct loop's greedy
tokens for a lone request, and greedy tokens within bf16 rounding for a batch."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from llm import precision as precision_module
from llm.engine import EngineConfig, EngineLLM
from llm.local import TransformersLLM
from llm.precision import Bf16GatedMLP, Bf16Linear, ScreenedHead
from tests.tiny_model import build_tiny_model
from tests.tiny_model import staggered_prompt as ask

CONFIG = EngineConfig(max_batch=8, kv_blocks=48, page_size=16, max_batch_tokens=96)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def local(folder: str) -> TransformersLLM:
    return TransformersLLM(folder, device="cpu", variant="bf16")


@pytest.fixture(scope="module")
def mixed(folder: str) -> TransformersLLM:
    return TransformersLLM(folder, device="cpu", variant="mixed")


@pytest.fixture(scope="module")
def reference(folder: str) -> TransformersLLM:
    return TransformersLLM(folder, device="cpu", variant="fp32")


@pytest.fixture(scope="module", params=["bf16", "mixed"])
def low(request: pytest.FixtureRequest) -> TransformersLLM:
    """Each precision below fp32 in turn."""
    return request.getfixturevalue("local" if request.param == "bf16" else "mixed")


def engine_over(local: TransformersLLM) -> Iterator[EngineLLM]:
    llm = EngineLLM(local, CONFIG)
    yield llm
    llm.engine.close()


@pytest.fixture()
def engine(local: TransformersLLM) -> Iterator[EngineLLM]:
    yield from engine_over(local)


@pytest.fixture()
def mixed_engine(mixed: TransformersLLM) -> Iterator[EngineLLM]:
    yield from engine_over(mixed)


@pytest.fixture()
def low_engine(low: TransformersLLM) -> Iterator[EngineLLM]:
    yield from engine_over(low)


def test_bf16_loads_bf16_weights_on_cpu(local: TransformersLLM) -> None:
    assert local.variant == "bf16"
    assert {p.dtype for p in local.model.parameters()} == {torch.bfloat16}


def test_the_engine_keeps_its_kv_cache_in_bf16(engine: EngineLLM) -> None:
    assert engine.chat(ask(1), max_tokens=3).completion_tokens == 3
    cache = engine.engine._manager.batch_processor.cache
    assert cache.dtype == torch.bfloat16
    assert {a.cache_tensor.dtype for a in cache.cache_allocators.values()} == {torch.bfloat16}


def greedy_deficits(local: TransformersLLM, prompt: list[int], tokens: list[int]) -> list[float]:
    """For each generated token, how far its logit falls below the best one when the plain model (batch of one)
    reads the prompt and the tokens before it: 0 where the token is the plain model's greedy choice."""
    with torch.inference_mode():
        logits = local.model(input_ids=torch.tensor([prompt + tokens[:-1]])).logits[0, len(prompt) - 1:].float()
    best = logits.max(dim=-1).values
    return [float(best[k] - logits[k, t]) for k, t in enumerate(tokens)]


def engine_tokens(engine: EngineLLM, prompts: list[list[int]], n: int) -> list[list[int]]:
    """Greedy tokens of every prompt, all submitted while the loop is paused so they share every step."""
    with engine.engine.exclusive():
        handles = [engine.engine.submit(p, n) for p in prompts]
    outputs = []
    for handle in handles:
        while not (update := handle.next_tokens(10))[1]:
            pass
        outputs.append(update[0])
    return outputs


def test_a_lone_request_equals_the_direct_loop_in_the_same_precision(low: TransformersLLM,
                                                                      low_engine: EngineLLM) -> None:
    for i in range(4):
        prompt = low.encode(ask(i))[0].tolist()
        assert engine_tokens(low_engine, [prompt], 30)[0] == list(low.generate_ids(torch.tensor([prompt]), 30)), i


def test_batched_requests_stay_greedy_within_bf16_rounding(low: TransformersLLM, low_engine: EngineLLM) -> None:
    """bf16 matmuls on CPU round differently with the number of rows (oneDNN takes another kernel from 8 rows up),
    so a request batched with others can take the other branch where its two best logits are within bf16 rounding
    (on this random model that happened at gaps of 1-2 bf16 ulps, 0.03-0.06): token-for-token equality with the
    direct loop holds for a lone request (above), not for a batch. What must hold: every token the engine picks is
    the plain model's greedy choice after that request's own tokens, up to rounding. Mixing requests' caches or
    positions would pick tokens far below the best."""
    tie = 0.125  # 4 bf16 ulps at this model's logit magnitudes (4-8)
    prompts = [low.encode(ask(i))[0].tolist() for i in range(8)]
    outputs = engine_tokens(low_engine, prompts, 40)
    deficits = [d for prompt, got in zip(prompts, outputs, strict=True) for d in greedy_deficits(low, prompt, got)]
    assert len(deficits) == 8 * 40
    assert max(deficits) < tie
    assert sum(d == 0 for d in deficits) > 0.9 * len(deficits)


def test_the_greedy_check_catches_a_wrong_token(local: TransformersLLM) -> None:
    prompt = local.encode(ask(3))[0].tolist()
    tokens = list(local.generate_ids(torch.tensor([prompt]), 20))
    assert max(greedy_deficits(local, prompt, tokens)) < 0.125
    wrong = tokens[:10] + [tokens[10] + 1] + tokens[11:]  # the next id instead of the greedy one at step 10
    assert max(greedy_deficits(local, prompt, wrong)) >= 0.125


def test_bf16_choose_scores_equal_the_direct_ones(local: TransformersLLM, engine: EngineLLM) -> None:
    options = ["yes", "no", "Mira Kesh"]
    inside, direct = engine.choose(ask(2), options), local.choose(ask(2), options)
    assert inside.option == direct.option and inside.scores == pytest.approx(direct.scores, abs=0.05)


def test_bf16_warns_on_a_cpu_without_bf16_instructions(folder: str, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="llm.precision"):
        llm = TransformersLLM(folder, device="cpu", variant="bf16")
    assert llm.model.dtype == torch.bfloat16  # still loads: a warning, not a refusal
    assert "AMX-BF16" in caplog.text and "fp32" in caplog.text
    caplog.clear()
    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: True)
    with caplog.at_level(logging.WARNING, logger="llm.precision"):
        TransformersLLM(folder, device="cpu", variant="bf16")
        TransformersLLM(folder, device="cpu", variant="fp32")
    assert "AMX-BF16" not in caplog.text


def test_cpu_bf16_probe_reads_torch_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    caps = {"architecture": "x86_64", "amx_bf16": False, "avx512_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps, raising=False)
    assert precision_module.cpu_has_fast_bf16() is False
    caps["avx512_bf16"] = True
    assert precision_module.cpu_has_fast_bf16() is True
    caps.update(architecture="aarch64", avx512_bf16=False)
    assert precision_module.cpu_has_fast_bf16() is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_grouped_kv_heads_under_a_mask_give_the_copied_heads_result_bit_for_bit(dtype: torch.dtype) -> None:
    """The engine lets SDPA read grouped K/V heads under its packed-batch mask (llm.engine.use_grouped_kv_heads)
    instead of copying K/V to every query head; on CPU that must not change a single bit (fp32 decisions included)."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 14, 8, 64, generator=g).to(dtype)  # 8 decoding requests packed as one sequence
    k, v = (torch.randn(1, 2, 8 * 40, 64, generator=g).to(dtype) for _ in range(2))
    mask = torch.zeros(8, 8 * 40, dtype=torch.bool)
    for i in range(8):
        mask[i, i * 40:i * 40 + 30 + i] = True  # each request sees only its own (ragged) cache
    mask = mask[None, None]
    sdpa = torch.nn.functional.scaled_dot_product_attention
    copied = sdpa(q, k.repeat_interleave(7, dim=1), v.repeat_interleave(7, dim=1), attn_mask=mask)
    grouped = sdpa(q, k, v, attn_mask=mask, enable_gqa=True)
    assert torch.equal(copied, grouped)


def test_the_engine_turns_grouped_heads_on_for_cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm.engine import use_grouped_kv_heads
    from settings import SDPA_FORCE_GQA as FORCE_GQA

    monkeypatch.delenv(FORCE_GQA, raising=False)
    assert use_grouped_kv_heads("cuda:0") is False and FORCE_GQA not in os.environ
    assert use_grouped_kv_heads("cpu") is True
    monkeypatch.setenv(FORCE_GQA, "0")  # a user's choice is kept
    assert use_grouped_kv_heads("cpu") is False


@pytest.mark.parametrize(("precision", "dtype"), [("bf16", torch.bfloat16), ("mixed", torch.float32)])
def test_the_factory_builds_the_batched_engine_in_each_precision(folder: str, tmp_path: Path, precision: str,
                                                                 dtype: torch.dtype) -> None:
    from llm.factory import make_llm
    from settings import Settings

    llm = make_llm(Settings.from_env(home=tmp_path, llm_backend="local", llm_engine="batched",
                                     llm_precision=precision, llm_device="cpu", llm_model=folder))
    try:
        assert isinstance(llm, EngineLLM) and llm.local.variant == precision
        assert llm.engine.model.dtype == dtype
        assert llm.chat(ask(1), max_tokens=4).completion_tokens == 4
    finally:
        llm.close()


# -- mixed precision only ---------------------------------------------------------------------------------------


def test_only_the_decoders_matmuls_hold_bf16_weights(mixed: TransformersLLM) -> None:
    model = mixed.model
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


def test_mixed_logits_stay_close_to_fp32(mixed: TransformersLLM, reference: TransformersLLM) -> None:
    ids = mixed.encode(ask(5))
    with torch.inference_mode():
        low, full = mixed.model(input_ids=ids).logits[0], reference.model(input_ids=ids).logits[0]
    assert low.dtype == torch.float32
    assert not torch.equal(low, full)  # the matmuls really ran in bf16
    assert float((low - full).abs().max()) < 0.05 * float(full.abs().max())
    assert (low.argmax(-1) == full.argmax(-1)).float().mean() > 0.9


def test_the_mixed_engine_keeps_its_kv_cache_in_fp32(mixed_engine: EngineLLM) -> None:
    assert mixed_engine.chat(ask(1), max_tokens=3).completion_tokens == 3
    cache = mixed_engine.engine._manager.batch_processor.cache
    assert {a.cache_tensor.dtype for a in cache.cache_allocators.values()} == {torch.float32}


@pytest.mark.parametrize(("fast", "picked"), [(True, "mixed"), (False, "fp32"), (None, "fp32")])
def test_auto_picks_mixed_only_on_a_cpu_with_bf16_instructions(folder: str, monkeypatch: pytest.MonkeyPatch,
                                                               fast: bool | None, picked: str) -> None:
    from llm import precision as precision_module

    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: fast)
    llm = TransformersLLM(folder, device="cpu")
    assert llm.variant == picked
    assert isinstance(llm.model.get_decoder().layers[0].mlp, Bf16GatedMLP) is (picked == "mixed")


def test_mixed_warns_on_a_cpu_without_bf16_instructions(folder: str, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from llm import precision as precision_module

    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="llm.precision"):
        assert TransformersLLM(folder, device="cpu", variant="mixed").variant == "mixed"
    assert "RAGSCOPE_LLM_PRECISION=mixed" in caplog.text and "AMX-BF16" in caplog.text


def test_a_benchmark_record_names_the_precision(mixed: TransformersLLM, mixed_engine: EngineLLM) -> None:
    from llm.lazy import LazyLLM

    assert mixed.describe().endswith("(mixed on cpu)")
    assert mixed_engine.describe() == f"{mixed.describe()}, batching engine"
    lazy = LazyLLM(lambda: mixed_engine, name="bundled")
    assert lazy.describe() == "bundled"  # nothing loaded yet
    lazy.get()
    assert lazy.describe() == mixed_engine.describe()


# -- the mixed variant's head: bf16 screening, fp32 rescoring -------------------------------------------------------


def hidden_rows(reference: TransformersLLM, n_prompts: int = 6) -> torch.Tensor:
    """Final hidden states of the fp32 model over a few prompts: the rows a head really sees."""
    rows = []
    with torch.inference_mode():
        for i in range(n_prompts):
            out = reference.model.get_decoder()(input_ids=reference.encode(ask(i)))
            rows.append(out.last_hidden_state[0])
    return torch.cat(rows)


def test_the_screened_head_picks_the_fp32_heads_token_for_every_row(reference: TransformersLLM) -> None:
    head = reference.model.get_output_embeddings()
    screened = ScreenedHead(head)
    rows = hidden_rows(reference)
    with torch.inference_mode():
        full = head(rows)
        got = screened(rows[None])[0]  # [batch, tokens, dim] in, as the model calls it
        top = got.topk(8, dim=-1).indices
        assert torch.equal(got.argmax(-1), full.argmax(-1))
        assert torch.allclose(got.gather(1, top), full.gather(1, top), rtol=0, atol=1e-4)  # candidates: fp32
        assert not torch.equal(got, full)  # the rest of the vocabulary really was read roughly
        with screened.exact():
            assert torch.equal(screened(rows), full)


def test_bf16_logits_alone_are_not_the_fp32_ones(reference: TransformersLLM) -> None:
    """What the fp32 rescoring is for: read in bf16, even the best token's logit is off (so the exact candidates
    checked above are rescored, not bf16 by accident)."""
    head = reference.model.get_output_embeddings()
    rows = hidden_rows(reference)
    with torch.inference_mode():
        full = head(rows)
        rough = torch.nn.functional.linear(rows.to(torch.bfloat16), head.weight.to(torch.bfloat16)).float()
        best = full.argmax(-1, keepdim=True)
    assert float((rough.gather(1, best) - full.gather(1, best)).abs().max()) > 1e-4


def test_exact_scoring_holds_only_in_its_own_thread(reference: TransformersLLM) -> None:
    screened = ScreenedHead(reference.model.get_output_embeddings())
    rows = hidden_rows(reference, 1)
    seen: dict[str, bool] = {}

    def other() -> None:
        with torch.inference_mode():
            seen["exact"] = torch.equal(screened(rows), torch.nn.functional.linear(rows, screened.weight))

    with torch.inference_mode(), screened.exact():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert torch.equal(screened(rows), torch.nn.functional.linear(rows, screened.weight))
    assert seen == {"exact": False}


def test_mixed_choose_scores_with_the_fp32_head(mixed: TransformersLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    head = mixed.model.get_output_embeddings()
    assert isinstance(head, ScreenedHead)
    options = ["yes", "no", "Mira Kesh"]
    got = mixed.choose(ask(2), options).scores
    plain = torch.nn.Linear(head.in_features, head.out_features, bias=False)
    plain.weight = head.weight
    monkeypatch.setattr(mixed.model, "lm_head", plain)
    assert mixed.choose(ask(2), options).scores == got


# -- mixed-invariant: a request's tokens do not depend on what shares its batch ---------------------------------


def test_blocked_linear_gives_each_row_the_same_bits_whatever_shares_the_call() -> None:
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(96, 160, generator=g).to(torch.bfloat16)
    x = torch.randn(150, 160, generator=g).to(torch.bfloat16)
    alone = torch.cat([precision_module.blocked_linear(x[i:i + 1], weight, 16) for i in range(len(x))])
    for n in (1, 2, 7, 16, 17, 64, 150):
        rows = torch.randperm(len(x), generator=g)[:n]
        assert torch.equal(precision_module.blocked_linear(x[rows], weight, 16), alone[rows]), n
    assert torch.allclose(alone.float(), (x @ weight.T).float(), rtol=1e-2, atol=1e-2)  # still the product
    assert precision_module.blocked_linear(x[:3][None], weight, 16).shape == (1, 3, 96)  # leading dims kept


@pytest.fixture(scope="module")
def invariant(folder: str) -> TransformersLLM:
    return TransformersLLM(folder, device="cpu", variant="mixed-invariant")


def test_mixed_invariant_gives_a_batched_request_its_lone_tokens(invariant: TransformersLLM) -> None:
    layer = invariant.model.get_decoder().layers[0]
    assert layer.mlp.down_proj.row_block == precision_module.ROW_BLOCK == layer.self_attn.q_proj.row_block
    assert invariant.model.get_output_embeddings().row_block == precision_module.ROW_BLOCK
    prompts = [invariant.encode(ask(i))[0].tolist() for i in range(8)]
    for engine in engine_over(invariant):
        together = engine_tokens(engine, prompts, 40)
        alone = [engine_tokens(engine, [p], 40)[0] for p in prompts]
    assert together == alone
    assert alone[0] == list(invariant.generate_ids(torch.tensor([prompts[0]]), 40))  # and the direct loop's
