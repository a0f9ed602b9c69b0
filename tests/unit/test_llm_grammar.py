"""JSON under a schema, decoded under a grammar (llguidance): the direct model, the batching engine (one request
of the running batch), the scripted fake, and the base class's refusal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence

import pytest

from llm.base import LLM, Choice, Completion, LLMError, Message
from llm.engine import EngineConfig, EngineLLM
from llm.fake import ScriptedLLM
from llm.grammar import GrammarError, json_schema_grammar, validate
from llm.local import TransformersLLM
from tests.tiny_model import build_tiny_model
from tests.tiny_model import staggered_prompt as ask

CONFIG = EngineConfig(max_batch=8, kv_blocks=64, page_size=16, max_batch_tokens=96)
# An enum and a bounded string: a random model cannot run past max_tokens inside it.
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["verdict", "town"],
          "properties": {"verdict": {"enum": ["yes", "no", "search"]},
                         "town": {"type": "string", "maxLength": 6}}}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> TransformersLLM:
    return TransformersLLM(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"), device="cpu", variant="fp32")


@pytest.fixture()
def engine(local: TransformersLLM) -> Iterator[EngineLLM]:
    llm = EngineLLM(local, CONFIG)
    yield llm
    llm.engine.close()


def test_the_direct_model_replies_with_json_under_the_schema(local: TransformersLLM) -> None:
    free = local.chat(ask(1), max_tokens=30)
    out = local.structured(ask(1), SCHEMA, max_tokens=40)
    value = json.loads(out.text)
    assert set(value) == {"verdict", "town"} and value["verdict"] in ("yes", "no", "search")
    assert len(value["town"]) <= 6
    assert not free.text.startswith("{")  # the random model writes no JSON of its own: the grammar made it
    assert out.completion_tokens >= 8 and out.prompt_tokens > 0


def test_engine_requests_under_a_grammar_equal_the_direct_model_inside_a_running_batch(
        local: TransformersLLM, engine: EngineLLM) -> None:
    expected = {i: (local.structured(ask(i), SCHEMA, max_tokens=40).text if i % 2
                    else local.chat(ask(i), max_tokens=24).text) for i in range(8)}
    got: dict[int, str] = {}

    def run(i: int) -> None:
        got[i] = (engine.structured(ask(i), SCHEMA, max_tokens=40).text if i % 2
                  else engine.chat(ask(i), max_tokens=24).text)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert got == expected  # grammar rows masked, plain rows untouched, in one batch
    assert engine.engine.active == 0
    assert not engine.engine.per_request_logits.tracked  # nothing left registered


def test_max_tokens_that_cut_the_json_is_an_error_naming_it(local: TransformersLLM, engine: EngineLLM) -> None:
    for llm in (local, engine):
        with pytest.raises(LLMError, match="max_tokens=3"):
            llm.structured(ask(2), SCHEMA, max_tokens=3)


def test_a_schema_the_engine_cannot_compile_is_refused_before_decoding(engine: EngineLLM) -> None:
    with pytest.raises(GrammarError, match="JSON Schema"):
        engine.structured(ask(1), {"type": "object", "properties": {"a": {"type": "no-such-type"}}})
    with pytest.raises(GrammarError, match="must be an object"):
        json_schema_grammar(["not", "a", "schema"])  # type: ignore[arg-type]
    assert engine.engine.active == 0


def test_engine_logprobs_are_recorded_for_the_request_that_asks(local: TransformersLLM, engine: EngineLLM) -> None:
    from llm.request_logits import RequestLogits

    logits = RequestLogits(top_logprobs=3)
    gen = engine.start(ask(3), max_tokens=6, logits=logits)
    text = "".join(gen.pieces())
    assert text == local.chat(ask(3), max_tokens=6).text
    assert [t for t, _, _ in logits.logprobs] == gen.tokens
    for token, logprob, top in logits.logprobs:
        assert len(top) == 3 and top[0][0] == token and top[0][1] == pytest.approx(logprob)
        assert logprob <= 0 and [lp for _, lp in top] == sorted((lp for _, lp in top), reverse=True)


def test_validate_names_where_a_reply_fails() -> None:
    assert validate('{"verdict": "no", "town": "Tallow"}', SCHEMA) == {"verdict": "no", "town": "Tallow"}
    with pytest.raises(LLMError, match="at verdict"):
        validate('{"verdict": "maybe", "town": "x"}', SCHEMA)
    with pytest.raises(LLMError, match="not JSON"):
        validate("yes", SCHEMA)


def test_the_scripted_fake_returns_scripted_json_that_fits_the_schema() -> None:
    llm = ScriptedLLM(structured=[{"verdict": "yes", "town": "Tallow"}, '{"verdict": "no", "town": ""}',
                                  lambda messages, schema: {"verdict": "search", "town": messages[0]["content"][:6]}])
    assert json.loads(llm.structured(ask(0), SCHEMA).text) == {"verdict": "yes", "town": "Tallow"}
    assert llm.structured(ask(0), SCHEMA).text == '{"verdict": "no", "town": ""}'
    assert json.loads(llm.structured(ask(0), SCHEMA).text)["town"] == ask(0)[0]["content"][:6]
    assert [kind for kind, _ in llm.calls] == ["structured"] * 3
    with pytest.raises(LLMError, match="no scripted structured reply left"):
        llm.structured(ask(0), SCHEMA)
    with pytest.raises(ValueError, match="does not fit the schema"):
        ScriptedLLM(structured=[{"verdict": "maybe", "town": "x"}]).structured(ask(0), SCHEMA)


class ChatOnly(LLM):
    name = "chat-only"

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        return Completion("", 0, 0)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        return Choice(options[0])


def test_a_backend_without_grammars_refuses_by_name() -> None:
    with pytest.raises(LLMError, match="ChatOnly .chat-only. cannot decode under a grammar"):
        ChatOnly().structured(ask(0), SCHEMA)
