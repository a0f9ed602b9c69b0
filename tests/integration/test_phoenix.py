"""Traces out, against a real collector: Arize Phoenix (`requirements-phoenix.txt`, installed by .ci/run in its own
virtual environment) is started on free local ports; a live run (RAGSCOPE_OTLP_ENDPOINT) and an exported stored
run are read back from Phoenix's REST API with their spans, documents and token counts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from llm.fake import ScriptedLLM
from tests.harness import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PHOENIX = Path(os.environ.get("RAGSCOPE_PHOENIX") or ROOT / ".ragscope" / "phoenix" / "bin" / "phoenix")
INSTALL = ("python3 -m venv --system-site-packages .ragscope/phoenix && "
           ".ragscope/phoenix/bin/pip install -r requirements-phoenix.txt (or set RAGSCOPE_PHOENIX)")


def install_phoenix() -> None:
    """Make .ragscope/phoenix (a venv over this interpreter's packages) and install requirements-phoenix.txt in it."""
    venv = PHOENIX.parents[1]
    print(f"installing Phoenix into {venv} (about a minute)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r",
                    str(ROOT / "requirements-phoenix.txt")], check=True)


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory):
    """A Phoenix server on free local ports; its base URL."""
    if not PHOENIX.exists() and not os.environ.get("RAGSCOPE_PHOENIX"):
        install_phoenix()  # its own environment, as .ci/run makes it: `python -m pytest` alone needs nothing else
    if not PHOENIX.exists():
        pytest.fail(f"Phoenix is not installed at {PHOENIX}: {INSTALL}")
    work = tmp_path_factory.mktemp("phoenix")
    port = free_port()
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(work), "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(free_port()), "PHOENIX_TELEMETRY_ENABLED": "false"}
    log = (work / "phoenix.log").open("w")
    proc = subprocess.Popen([str(PHOENIX), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Phoenix did not start:\n" + (work / "phoenix.log").read_text()[-3000:])
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def spans_of(url: str, trace_id: str, expected: int) -> list[dict]:
    """The spans of one trace, once Phoenix has ingested `expected` of them (it ingests in the background)."""
    deadline = time.monotonic() + 60
    while True:
        body = httpx.get(f"{url}/v1/projects/ragscope/spans", params={"trace_id": trace_id, "limit": 100},
                         timeout=10)
        spans = body.json().get("data", []) if body.status_code == 200 else []
        if len(spans) >= expected or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


def check(spans: list[dict], stored: dict) -> None:
    kinds = {s["name"]: s["span_kind"] for s in spans}
    assert kinds == {"naive": "AGENT", "retrieve": "RETRIEVER", "read": "CHAIN", "prompt": "LLM"}, kinds
    root = next(s for s in spans if s["name"] == "naive")
    assert root["parent_id"] is None and root["context"]["trace_id"] == stored["id"]
    attrs = {s["name"]: s["attributes"] for s in spans}
    flat = {name: _flatten(a) for name, a in attrs.items()}
    assert flat["naive"]["input.value"] == stored["question"] and flat["naive"]["output.value"] == stored["answer"]
    hits = stored["events"][0]["data"]["hits"]
    documents = _documents(attrs["retrieve"])
    assert [d["document"]["id"] for d in documents] == [h["chunk_id"] for h in hits]
    assert [round(d["document"]["score"], 4) for d in documents] == [round(h["score"], 4) for h in hits]
    assert documents[0]["document"]["content"] == hits[0]["text"]
    read = stored["events"][1]
    assert flat["prompt"]["llm.token_count.prompt"] == read["prompt_tokens"] > 0
    assert flat["prompt"]["llm.token_count.completion"] == read["completion_tokens"] > 0
    assert "Orvane" in flat["prompt"]["llm.input_messages.0.message.content"]


def _flatten(value, prefix: str = "") -> dict:
    """Phoenix nests dotted attribute names; flatten them back (lists by index)."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}{key}.").items()}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): value}


def _documents(attrs: dict) -> list[dict]:
    if "retrieval" in attrs:
        return attrs["retrieval"]["documents"]
    return [{"document": {"id": attrs[f"retrieval.documents.{i}.document.id"],
                          "score": attrs[f"retrieval.documents.{i}.document.score"],
                          "content": attrs[f"retrieval.documents.{i}.document.content"]}}
            for i in range(sum(k.endswith(".document.id") for k in attrs))]


def test_a_live_run_and_an_exported_run_are_read_back_from_phoenix(phoenix, services_factory, toy_docs, monkeypatch,
                                                                     capsys) -> None:
    import app
    from tracing.openinference import Tracer, otlp_exporter

    live = services_factory(llm=ScriptedLLM(replies=["Tallow", "Tallow"]), otlp_endpoint=phoenix)
    assert live.tracer is not None  # RAGSCOPE_OTLP_ENDPOINT made the services stream runs
    live.ingest_documents("toy", toy_docs)
    run = live.run("naive", "toy", "Where was the Orvane Guild founded?", {"top_k": 3})
    list(run)
    live.tracer.flush()
    stored = live.db.get_run(run.run_id)
    check(spans_of(phoenix, run.run_id, 4), stored)

    quiet = services_factory(llm=ScriptedLLM(replies=["Tallow"]))  # no endpoint: nothing streamed
    quiet.ingest_documents("toy", toy_docs)
    other = quiet.run("naive", "toy", "Where was the Orvane Guild founded?", {"top_k": 3})
    list(other)
    listed = httpx.get(f"{phoenix}/v1/projects/ragscope/spans", params={"trace_id": other.run_id}, timeout=10)
    assert listed.status_code == 200 and listed.json()["data"] == []  # not sent until exported
    exported = quiet.db.get_run(other.run_id)
    monkeypatch.setenv("RAGSCOPE_HOME", str(quiet.settings.home))
    assert app.main(["trace", other.run_id, "--endpoint", phoenix]) == 0  # the CLI exports a stored run
    assert f"sent run {other.run_id} (2 steps)" in capsys.readouterr().out
    check(spans_of(phoenix, other.run_id, 4), exported)
    closed = f"http://127.0.0.1:{free_port()}"
    assert Tracer(otlp_exporter(closed), batch=False).export_run(exported) is False  # nobody took them
