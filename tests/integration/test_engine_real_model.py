"""The real bundled model (Qwen2.5-Coder-0.5B) in the batching engine: JSON under a JSON Schema's grammar (direct and
in the engine), and choices scored inside the running batch with the scores of the direct model's exclusive pass."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from llm.bundled import ensure_bundled_model
from llm.grammar import validate
from settings import Settings

pytestmark = pytest.mark.integration

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["sentiment", "reason"],
          "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]},
                         "reason": {"type": "string", "maxLength": 40}}}
REVIEW = [{"role": "user", "content": "Classify the sentiment of this review and give a short reason as JSON: "
                                      "'The soup was cold and the waiter was rude.'"}]


@pytest.fixture(scope="module")
def local() -> Iterator[object]:
    from llm.local import TransformersLLM

    model = TransformersLLM(ensure_bundled_model(Settings.from_env().model_cache), device="cpu")
    yield model
    model.close()


def test_the_direct_model_returns_json_valid_under_the_schema(local: object) -> None:
    out = local.structured(REVIEW, SCHEMA, max_tokens=40)
    value = validate(out.text, SCHEMA)
    assert value["sentiment"] == "negative" and value["reason"].strip()


@pytest.fixture(scope="module")
def engine(local: object) -> Iterator[object]:
    from llm.engine import EngineConfig, EngineLLM

    llm = EngineLLM(local, EngineConfig(max_batch=4, kv_blocks=32))
    yield llm
    llm.engine.close()


def test_the_engine_returns_json_valid_under_the_schema_beside_a_plain_request(engine: object) -> None:
    plain: dict[str, str] = {}
    thread = threading.Thread(target=lambda: plain.update(
        text=engine.chat([{"role": "user", "content": "Name a colour."}], max_tokens=12).text))
    thread.start()
    out = engine.structured(REVIEW, SCHEMA, max_tokens=40)
    thread.join(timeout=120)
    value = json.loads(out.text)
    validate(out.text, SCHEMA)
    assert value["sentiment"] == "negative"
    assert plain["text"] and not plain["text"].lstrip().startswith("{")


JUDGE = [{"role": "system", "content": "Answer yes or no."},
         {"role": "user", "content": "Passage: The Guild of Tidewrights was chartered in 1712 in Duvessa.\n"
                                     "Does the passage say when the guild was chartered?"}]


@pytest.mark.parametrize("options", [["yes", "no"], ["1712", "1812", "not stated"]])
def test_choices_inside_the_batch_score_as_the_exclusive_pass(local: object, engine: object,
                                                              options: list[str]) -> None:
    with engine.engine.exclusive():
        exclusive = local.choose(JUDGE, options)
    plain: dict[str, str] = {}
    thread = threading.Thread(target=lambda: plain.update(
        text=engine.chat([{"role": "user", "content": "Name a colour."}], max_tokens=12).text))
    thread.start()
    inside = engine.choose(JUDGE, options)
    thread.join(timeout=120)
    assert inside.option == exclusive.option
    # the same log-likelihoods, up to the rounding of bf16 matmuls over a different number of rows (which grows
    # with an option's length: 0.06 of -16 for a 4-token option)
    assert inside.scores == pytest.approx(exclusive.scores, rel=0.01, abs=0.05)
    assert plain["text"]
