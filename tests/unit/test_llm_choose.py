"""Local-LLM logic that needs no real model: option scoring, stop strings, the factory, cheap imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_factory_does_not_import_torch() -> None:
    code = "import sys, llm.factory; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_backend_lists_the_valid_ones(tmp_path: Path) -> None:
    from llm.factory import make_llm

    with pytest.raises(ValueError, match="local, openai"):
        make_llm(Settings.from_env(home=tmp_path, llm_backend="llamafile"))


def test_openai_backend_builds_without_a_server(tmp_path: Path) -> None:
    from llm.factory import make_llm
    from llm.openai_compat import OpenAICompatLLM

    llm = make_llm(Settings.from_env(home=tmp_path, llm_backend="openai", llm_model="qwen",
                                     openai_base_url="http://127.0.0.1:9/v1/"))
    assert isinstance(llm, OpenAICompatLLM)
    assert (llm.base_url, llm.model) == ("http://127.0.0.1:9/v1", "qwen")
    llm.close()


def test_stop_helpers() -> None:
    from llm.stopping import first_stop as _first_stop
    from llm.stopping import held_back as _held_back

    assert _first_stop("a Observation: b\n\n", ["\n\n", "Observation:"]) == 2
    assert _first_stop("nothing here", ["STOP"]) == -1
    assert _held_back("Answer: Obs", ["Observation:"]) == 3  # "Obs" may become the stop string
    assert _held_back("Answer: x", ["Observation:"]) == 0
    assert _held_back("caf\ufffd", []) == 1  # half a UTF-8 character


@pytest.fixture(scope="module")
def tiny() -> object:
    """A TransformersLLM shell around a tiny random Qwen2 model (no tokenizer needed)."""
    torch = pytest.importorskip("torch")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from llm.local import TransformersLLM, _cache_keyword

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    llm = object.__new__(TransformersLLM)
    llm.model = Qwen2ForCausalLM(config).eval()
    llm.device = "cpu"
    llm._cache_kw = _cache_keyword(llm.model)
    return llm


def naive_logprob(model: object, prompt: list[int], option: list[int]) -> float:
    """Sum of log p(option tokens) from one full forward pass over prompt + option."""
    import torch

    ids = torch.tensor([prompt + option])
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    return sum(float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(option))


def test_batched_option_scores_match_full_forward_passes(tiny: object) -> None:
    import torch

    prompt = [5, 9, 12, 3, 7]
    options = [[4], [8, 2, 30], [8, 2], [40, 41, 42, 43, 44]]
    with torch.inference_mode():
        scores = tiny._option_logprobs(torch.tensor([prompt]), options)
    for option, score in zip(options, scores, strict=True):
        assert score == pytest.approx(naive_logprob(tiny.model, prompt, option), abs=1e-4)


def test_single_token_options_need_only_the_prefill(tiny: object) -> None:
    import torch

    with torch.inference_mode():
        scores = tiny._option_logprobs(torch.tensor([[1, 2, 3]]), [[4], [5]])
    assert scores[0] == pytest.approx(naive_logprob(tiny.model, [1, 2, 3], [4]), abs=1e-4)
    assert scores[1] == pytest.approx(naive_logprob(tiny.model, [1, 2, 3], [5]), abs=1e-4)
