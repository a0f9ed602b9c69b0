"""The command line for real: bundled embedder, Chroma and SQLite on disk, the bundled LLM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.integration


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAGSCOPE_HOME": str(home)}
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          env=env, timeout=900, cwd=ROOT)


def test_ingest_ask_delete_round_trip(tmp_path: Path) -> None:
    home = tmp_path / "home"
    notes = tmp_path / "lighthouse.md"
    notes.write_text("# Velmora Lighthouse\n\nThe Velmora lighthouse keeper in 1907 was Oskar Penhallow, "
                     "who painted the tower bright orange.\n")
    other = tmp_path / "bakery.txt"
    other.write_text("Brindle Bakery\nThe Brindle bakery sells rye bread every Tuesday in Cobbham.\n")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02" * 50)

    first = _cli(home, "ingest", "--corpus", "notes", str(notes), str(other), str(binary))
    assert first.returncode == 0, first.stderr
    assert "added 2 documents" in first.stdout
    assert "blob.txt" in first.stderr and "binary" in first.stderr

    again = _cli(home, "ingest", "--corpus", "notes", str(notes), str(other))
    assert "added 0 documents" in again.stdout and "2 already present" in again.stdout

    ask = _cli(home, "ask", "--agent", "naive", "--corpus", "notes", "--config", "top_k=2",
               "Who was the Velmora lighthouse keeper in 1907?")
    assert ask.returncode == 0, ask.stderr
    assert "[    retrieve" in ask.stdout and "Searched for" in ask.stdout
    assert "Penhallow" in ask.stdout.split("answer:")[1]

    docs = _cli(home, "docs", "--corpus", "notes").stdout
    lighthouse_id = next(line.split()[0] for line in docs.splitlines() if "Velmora" in line)
    gone = _cli(home, "delete", "--corpus", "notes", lighthouse_id)
    assert gone.returncode == 0 and f"deleted {lighthouse_id}" in gone.stdout
    after = _cli(home, "ask", "--agent", "naive", "--corpus", "notes", "--config", "top_k=5",
                 "Who was the Velmora lighthouse keeper in 1907?")
    assert lighthouse_id not in after.stdout.split("passages used:")[1]


def test_bad_input_gives_one_line_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for args, message in [
        (("ask", "--corpus", "demo", "   "), "error: the question is empty"),
        (("ask", "--agent", "nope", "--corpus", "demo", "q?"), "error: unknown agent 'nope'; valid agents: naive"),
        (("ask", "--corpus", "nowhere", "q?"), "error: unknown corpus 'nowhere'"),
    ]:
        result = _cli(home, *args)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr


def test_the_worker_command_serves_a_model_over_http(tmp_path: Path) -> None:
    """`app.py worker` for real: a subprocess on a tiny local model, answering the OpenAI chat endpoint."""
    import socket
    import time

    import httpx

    from tests.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "model")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAGSCOPE_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "worker", "--model", str(model), "--device", "cpu",
                             "--port", str(port), "--max-batch", "4", "--kv-blocks", "32"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        reply = httpx.post(f"{base}/v1/chat/completions", timeout=120, json={
            "messages": [{"role": "user", "content": "Which town lies on the river?"}], "max_tokens": 8})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["usage"]["prompt_tokens"] > 0 and 1 <= body["usage"]["completion_tokens"] <= 8
        choice = httpx.post(f"{base}/v1/chat/completions", timeout=120, json={
            "messages": [{"role": "user", "content": "yes or no?"}], "structured_outputs": {"choice": ["yes", "no"]}})
        assert choice.json()["choices"][0]["message"]["content"] in ("yes", "no")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
