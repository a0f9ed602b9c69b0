"""CTranslate2 backend: in fp32 it must give what the PyTorch loop gives (chat, stop strings, choice scores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm.ctranslate import CT2LLM, convert
from llm.local import TransformersLLM
from tests.tiny_model import build_tiny_model

MESSAGES = [{"role": "user", "content": "Question: which town lies on the river?"}]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[TransformersLLM, CT2LLM]:
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    out = convert(folder, folder.parent / "ct2-float32", "float32")
    return TransformersLLM(folder, device="cpu", variant="fp32"), CT2LLM(out, folder, compute="float32")


def test_greedy_chat_equals_the_pytorch_loop(pair: tuple[TransformersLLM, CT2LLM]) -> None:
    torch_llm, ct2 = pair
    a, b = torch_llm.chat(MESSAGES, max_tokens=24), ct2.chat(MESSAGES, max_tokens=24)
    assert b.text == a.text and b.completion_tokens == a.completion_tokens and b.prompt_tokens == a.prompt_tokens


def test_stop_strings_cut_the_stream_like_the_pytorch_loop(pair: tuple[TransformersLLM, CT2LLM]) -> None:
    torch_llm, ct2 = pair
    full = torch_llm.chat(MESSAGES, max_tokens=24).text
    stop = full[len(full) // 2: len(full) // 2 + 2]
    assert list(ct2.stream(MESSAGES, max_tokens=24, stop=[stop])) == list(
        torch_llm.stream(MESSAGES, max_tokens=24, stop=[stop]))
    assert stop not in "".join(ct2.stream(MESSAGES, max_tokens=24, stop=[stop]))


def test_choice_scores_equal_the_pytorch_loop(pair: tuple[TransformersLLM, CT2LLM]) -> None:
    torch_llm, ct2 = pair
    options = ["yes", "no", "Paris London"]
    a, b = torch_llm.choose(MESSAGES, options), ct2.choose(MESSAGES, options)
    assert b.option == a.option
    assert b.scores == pytest.approx(a.scores, abs=1e-3)


def test_conversion_happens_once(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "model")
    out = convert(folder, tmp_path / "ct2", "int8")
    stamp = (out / "model.bin").stat().st_mtime_ns
    assert convert(folder, tmp_path / "ct2", "int8") == out
    assert (out / "model.bin").stat().st_mtime_ns == stamp
    assert not (tmp_path / "ct2.partial").exists()


def test_the_factory_refuses_a_precision_ct2_does_not_have(tmp_path: Path) -> None:
    from llm.factory import make_llm
    from settings import Settings

    settings = Settings.from_env(home=tmp_path, llm_engine="ct2", llm_precision="bf16",
                                 llm_model=str(build_tiny_model(tmp_path / "model")))
    with pytest.raises(ValueError, match="auto, int8 or fp32"):
        make_llm(settings)


def test_stop_pieces_cut_at_the_stop_and_hold_back_what_may_become_one() -> None:
    from llm.stopping import stop_pieces

    words = ["The ", "answer", " is", " Sen", "n.", "\nObs", "ervation:", " more"]
    read: list[int] = []

    def tokens():  # noqa: ANN202 - records how far the stream was read
        for i in range(len(words)):
            read.append(i)
            yield i

    pieces = list(stop_pieces(tokens(), lambda ids: "".join(words[i] for i in ids), ["\nObservation:"]))
    assert "".join(pieces) == "The answer is Senn."
    assert all("\n" not in p for p in pieces)  # "\nObs" was held back, then dropped with the stop
    assert read == list(range(7))  # the stream is not read past the stop
    assert "".join(stop_pieces(iter(range(3)), lambda ids: "".join(words[i] for i in ids), None)) == "The answer is"
