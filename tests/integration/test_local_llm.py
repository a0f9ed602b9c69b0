"""The real bundled default model (Qwen2.5-Coder-0.5B-Instruct): chat, stop strings, stream, choose.

The first run joins and converts the bundled GGUF into $RAGSCOPE_HOME/models (default .ragscope/models),
about two minutes; later runs load the cached safetensors folder in seconds.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm.base import LLMError
from llm.bundled import copy_verified, ensure_bundled_model, is_converted

pytestmark = pytest.mark.integration

CACHE = Path(os.environ.get("RAGSCOPE_HOME", ".ragscope")) / "models"


@pytest.fixture(scope="module")
def llm() -> Iterator[object]:
    from llm.local import TransformersLLM

    model = TransformersLLM(ensure_bundled_model(CACHE), device="cpu")
    yield model
    model.close()


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_the_converted_model_is_cached(llm: object) -> None:
    folder = ensure_bundled_model(CACHE)
    assert is_converted(folder)
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert not list(folder.parent.glob("*.gguf")) and not list(folder.rglob("*.gguf"))


def test_chat_answers_a_trivial_question(llm: object) -> None:
    out = llm.chat(ask("What is the capital of France? Answer in one word."), max_tokens=16)
    assert "Paris" in out.text
    assert out.prompt_tokens > 10 and 0 < out.completion_tokens <= 16


def test_stop_strings_cut_the_reply(llm: object) -> None:
    out = llm.chat(ask("Count from 1 to 10, separated by commas."), max_tokens=40, stop=["5"])
    assert out.text.startswith("1") and "4" in out.text
    assert "5" not in out.text and "6" not in out.text
    assert out.completion_tokens < 20  # generation stopped, not just the text cut


def test_stream_matches_chat(llm: object) -> None:
    messages = ask("Say hello in French.")
    pieces = list(llm.stream(messages, max_tokens=12))
    assert len(pieces) > 1
    assert "".join(pieces) == llm.chat(messages, max_tokens=12).text


@pytest.mark.parametrize(
    ("question", "options", "expected"),
    [
        ("Is Paris in France? Answer Yes or No.", ["Yes", "No"], "Yes"),
        ("Which one is a fruit: hammer or apple? Answer with one word.", ["hammer", "apple"], "apple"),
    ],
)
def test_choose_picks_the_obvious_option(llm: object, question: str, options: list[str], expected: str) -> None:
    choice = llm.choose(ask(question), options)
    assert choice.option == expected and choice.constrained
    assert set(choice.scores) == set(options)
    assert all(score <= 0 for score in choice.scores.values())
    assert choice.prompt_tokens > 0


def test_a_tampered_part_is_refused() -> None:
    good = b"ragscope" * 1000
    expected = hashlib.sha256(good).hexdigest()
    assert copy_verified([io.BytesIO(good[:100]), io.BytesIO(good[100:])], io.BytesIO(), expected) == expected
    tampered = good[:500] + b"X" + good[501:]
    with pytest.raises(LLMError, match=f"expected sha256 {expected}, got {hashlib.sha256(tampered).hexdigest()}"):
        copy_verified([io.BytesIO(tampered)], io.BytesIO(), expected)
