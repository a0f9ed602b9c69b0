"""The real bundled model (Qwen2.5-Coder-0.5B) under a JSON Schema's grammar: direct and in the batching engine."""

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


def test_the_engine_returns_json_valid_under_the_schema_beside_a_plain_request(local: object) -> None:
    from llm.engine import EngineConfig, EngineLLM

    engine = EngineLLM(local, EngineConfig(max_batch=4, kv_blocks=32))
    try:
        plain: dict[str, str] = {}
        thread = threading.Thread(target=lambda: plain.update(
            text=engine.chat([{"role": "user", "content": "Name a colour."}], max_tokens=12).text))
        thread.start()
        out = engine.structured(REVIEW, SCHEMA, max_tokens=40)
        thread.join(timeout=120)
    finally:
        engine.close()
    value = json.loads(out.text)
    validate(out.text, SCHEMA)
    assert value["sentiment"] == "negative"
    assert plain["text"] and not plain["text"].lstrip().startswith("{")
