"""The batching engine on a tiny random Qwen2: batched greedy outputs equal one-at-a-time ones, token for token."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm.base import Completion
from llm.engine import EngineConfig, EngineDied, EngineLLM, RequestTooLarge
from llm.local import TransformersLLM
from tests.tiny_model import build_tiny_model
from tests.tiny_model import staggered_prompt as ask

CONFIG = EngineConfig(max_batch=8, kv_blocks=48, page_size=16, max_batch_tokens=96)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> TransformersLLM:
    return TransformersLLM(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"), device="cpu", variant="fp32")


@pytest.fixture()
def engine(local: TransformersLLM) -> Iterator[EngineLLM]:
    llm = EngineLLM(local, CONFIG)
    yield llm
    llm.engine.close()


def test_sixteen_staggered_requests_equal_one_at_a_time(local: TransformersLLM, engine: EngineLLM) -> None:
    jobs = []
    for i in range(16):
        max_tokens = 6 + (i * 7) % 40
        reference = local.chat(ask(i), max_tokens=max_tokens)
        stop = [reference.text[len(reference.text) // 2:][:3]] if i % 4 == 1 and len(reference.text) > 6 else None
        if stop:
            reference = local.chat(ask(i), max_tokens=max_tokens, stop=stop)
        jobs.append((ask(i), max_tokens, stop, reference))
    forwards: list[int] = []
    hook = engine.local.model.register_forward_hook(lambda *_: forwards.append(1))
    results: dict[int, Completion | list[str]] = {}

    def run(i: int) -> None:
        time.sleep(0.002 * i)
        messages, max_tokens, stop, _ = jobs[i]
        if i == 5:
            results[i] = list(engine.stream(messages, max_tokens=max_tokens, stop=stop))
        else:
            results[i] = engine.chat(messages, max_tokens=max_tokens, stop=stop)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    hook.remove()
    assert any(stop for _, _, stop, _ in jobs)
    for i, (_, _, _, reference) in enumerate(jobs):
        got = results[i]
        if isinstance(got, list):
            assert len(got) > 1 and "".join(got) == reference.text
            continue
        assert (got.text, got.completion_tokens, got.prompt_tokens) == (
            reference.text, reference.completion_tokens, reference.prompt_tokens), f"request {i}"
    total_tokens = sum(r.completion_tokens for r in (j[3] for j in jobs))
    assert len(forwards) < total_tokens / 2  # decode steps were shared, not one request at a time
    assert engine.engine.active == 0


def test_a_stop_string_ends_generation_in_the_engine(local: TransformersLLM, engine: EngineLLM) -> None:
    free = local.chat(ask(2), max_tokens=40)
    stop = free.text[4:7]
    gen = engine.start(ask(2), max_tokens=40, stop=[stop])
    text = "".join(gen.pieces())
    assert stop not in text and free.text.startswith(text)
    assert gen.finish_reason == "stop" and gen.completion_tokens < free.completion_tokens
    assert engine.engine.active == 0


def test_cancelling_frees_the_request(engine: EngineLLM) -> None:
    gen = engine.start(ask(3), max_tokens=500)
    while not gen.step(timeout=5):
        pass
    assert engine.engine.active == 1
    gen.cancel()
    assert engine.engine.active == 0
    assert engine.chat(ask(1), max_tokens=3).completion_tokens == 3  # the engine keeps serving


def test_a_request_that_can_never_fit_is_refused(engine: EngineLLM) -> None:
    with pytest.raises(RequestTooLarge, match="KV cache"):
        engine.chat(ask(1), max_tokens=CONFIG.capacity)


def test_a_dead_loop_fails_in_flight_requests_and_restarts(engine: EngineLLM) -> None:
    gen = engine.start(ask(4), max_tokens=400)
    while not gen.step(timeout=5):
        pass
    runner = engine.engine._manager.batch_processor.model_runner

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated device fault")

    runner.compute_batch = boom
    with pytest.raises(EngineDied, match="simulated device fault"):
        while not gen.done:
            gen.step(timeout=10)
    deadline = time.monotonic() + 10
    while engine.engine.restarts == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.engine.restarts == 1
    assert engine.chat(ask(1), max_tokens=4).completion_tokens == 4


def test_choose_scores_every_option(local: TransformersLLM, engine: EngineLLM) -> None:
    options = ["yes", "no", "search"]
    choice, direct = engine.choose(ask(1), options), local.choose(ask(1), options)
    assert choice.option == direct.option and choice.scores == pytest.approx(direct.scores, abs=1e-4)
    assert set(choice.scores) == set(options) and all(s < 0 for s in choice.scores.values())
    assert choice.option == max(choice.scores, key=choice.scores.get)


@pytest.mark.parametrize("options", [["yes", "no"], ["Tallow", "Mira Kesh", "the Grey Hills", "1612"],
                                     ["salt", "salt town", "salt markets of Tallow"], ["river Senn"]])
def test_choose_inside_the_batch_equals_the_exclusive_scores(local: TransformersLLM, engine: EngineLLM,
                                                             options: list[str]) -> None:
    for i in (1, 6):
        choice, exclusive = engine.choose(ask(i), options), local.choose(ask(i), options)
        assert choice.option == exclusive.option
        assert choice.scores == pytest.approx(exclusive.scores, abs=1e-4)
        assert (choice.prompt_tokens, choice.completion_tokens) == (exclusive.prompt_tokens,
                                                                    exclusive.completion_tokens)
    assert engine.engine.active == 0 and engine.engine.per_request_logits.tracked == 0


def test_choose_never_pauses_the_engine_and_prefills_the_prompt_once(local: TransformersLLM, engine: EngineLLM,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    options = ["Tallow town", "Mira Kesh wrote", "the Grey Hills", "salt markets"]
    long_prompt = ask(9)  # 66 words: several cache blocks of 16 tokens
    exclusive = local.choose(long_prompt, options)
    expected_chat = local.chat(ask(2), max_tokens=30).text

    def no_pause() -> None:
        raise AssertionError("choose paused the engine")

    monkeypatch.setattr(engine.engine, "exclusive", no_pause)
    forwarded: list[int] = []
    hook = engine.local.model.register_forward_pre_hook(
        lambda _, args, kwargs: forwarded.append(int(kwargs["input_ids"].shape[1])), with_kwargs=True)
    try:
        choice = engine.choose(long_prompt, options)
    finally:
        hook.remove()
    assert choice.option == exclusive.option and choice.scores == pytest.approx(exclusive.scores, abs=1e-4)
    # one prefill of the prompt; the other options reuse its cached blocks (4 prefills without the cache)
    assert exclusive.prompt_tokens < sum(forwarded) < 1.5 * exclusive.prompt_tokens
    reply: list[str] = []
    chat = threading.Thread(target=lambda: reply.append(engine.chat(ask(2), max_tokens=30).text))
    chat.start()
    during = [engine.choose(long_prompt, options) for _ in range(3)]
    chat.join(timeout=60)
    assert reply == [expected_chat]
    assert all(c.option == exclusive.option for c in during)


def test_choose_while_chats_decode_keeps_its_scores(engine: EngineLLM) -> None:
    options = ["yes", "no", "Tallow"]
    expected = engine.choose(ask(1), options).scores
    done = threading.Event()
    replies: list[str] = []

    def chat_loop() -> None:
        while not done.is_set():
            replies.append(engine.chat(ask(2), max_tokens=20).text)

    threads = [threading.Thread(target=chat_loop) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        scores = [engine.choose(ask(1), options).scores for _ in range(12)]
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
    assert all(s == pytest.approx(expected, abs=1e-4) for s in scores)
    assert replies and len(set(replies)) == 1


def test_a_process_with_an_open_engine_exits(local: TransformersLLM) -> None:
    script = (
        "import sys; from llm.local import TransformersLLM; from llm.engine import EngineLLM, EngineConfig\n"
        f"local = TransformersLLM({local.model.name_or_path!r}, device='cpu', variant='fp32')\n"
        "llm = EngineLLM(local, EngineConfig(kv_blocks=8))\n"
        "print(llm.chat([{'role': 'user', 'content': 'hi'}], max_tokens=2).completion_tokens)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("2")


def test_tiny_model_folder_is_complete(local: TransformersLLM) -> None:
    folder = Path(local.model.name_or_path)
    assert (folder / "tokenizer.json").is_file() and (folder / "config.json").is_file()


def test_cuda_graph_setting_is_on_for_cuda_only_when_auto() -> None:
    from llm.factory import cuda_graph_setting

    assert cuda_graph_setting("auto", "cuda:0") is True
    assert cuda_graph_setting("auto", "cpu") is None  # the library decides (no graph backend on CPU)
    assert cuda_graph_setting("OFF", "cuda") is False
    assert cuda_graph_setting("on", "cpu") is True
    with pytest.raises(ValueError, match="auto, on, off"):
        cuda_graph_setting("sometimes", "cuda")


def test_varlen_attention_gives_the_same_tokens_and_scores(local: TransformersLLM) -> None:
    """The varlen attention (torch's FlashAttention kernel on CUDA, its per-sequence reference here) inside the
    engine: staggered batched requests and choice scores equal the plain model's, token for token."""
    references = [local.chat(ask(i), max_tokens=6 + (i * 7) % 40) for i in range(10)]
    choice = local.choose(ask(1), ["yes", "no", "Mira Kesh"])
    llm = EngineLLM(local, EngineConfig(max_batch=8, kv_blocks=48, page_size=16, max_batch_tokens=96,
                                        attention="varlen"))
    try:
        assert local.model.config._attn_implementation == "flash_torch_varlen"
        results: dict[int, Completion] = {}

        def run(i: int) -> None:
            time.sleep(0.002 * i)
            results[i] = llm.chat(ask(i), max_tokens=6 + (i * 7) % 40)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert [results[i].text for i in range(10)] == [r.text for r in references]
        assert llm.choose(ask(1), ["yes", "no", "Mira Kesh"]).scores == pytest.approx(choice.scores, abs=1e-4)
    finally:
        llm.engine.close()
        local.model.config._attn_implementation = "sdpa"


def test_attention_setting_picks_varlen_where_it_runs() -> None:
    from llm import attention
    from llm.factory import attention_setting

    assert attention_setting("auto", "cpu") == "varlen"
    assert attention_setting("auto", "cuda") == ("varlen" if attention.available("cuda") else "sdpa")
    assert attention_setting("VARLEN", "cpu") == "varlen"
    with pytest.raises(ValueError, match="RAGSCOPE_ENGINE_ATTENTION"):
        attention_setting("flash", "cuda")
