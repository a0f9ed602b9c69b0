"""UI latency: app start-to-serving seconds and Enter-to-first-step milliseconds, in a real browser.

    python benchmarks/bench_ui.py                  # the real app: `python app.py` in a subprocess
    python benchmarks/bench_ui.py --fake-llm       # in-process app with a stand-in LLM (no model load)
    python benchmarks/bench_ui.py --fake-llm --agents all   # Enter to the first step shown, for every agent

Start-to-serving is the time from launching the app until its page answers HTTP 200. Enter-to-first-step
is measured inside the page: from the Enter keydown in the Chat box to the first trace step (the
retrieval) appearing in the chat, for each question; the median is reported. With --agents, it is measured
for each agent named (or all) to the first step shown at all: the waiting step that names what the agent does
first (ui/hints.py), or a finished step if that comes first. Uses Debian's chromium (/usr/bin/chromium) through
playwright.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "Which comet was first sighted at Carrowdene Observatory?",
    "On which river stands the town that hosts the Feast of Reeds?",
    "Who founded the guild whose hall is in the village of Mirrowdale?",
    "In what year was the Guild of Tidewrights chartered?",
    "Which is the easternmost of the Quillmarch Isles?",
]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> float:
    """Poll `url` until it answers 200; returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def pick_agent(page: object, agent: str) -> str:
    """Choose `agent` in the Chat tab; returns the text of its first waiting step."""
    from agents import registry
    from ui.hints import waiting

    page.locator("#chat-agent input").click()  # type: ignore[attr-defined]
    page.get_by_role("option", name=registry.get(agent).title).click()  # type: ignore[attr-defined]
    page.wait_for_timeout(500)  # type: ignore[attr-defined]
    return waiting(agent)


def measure(url: str, questions: list[str], answer_timeout: float, ready_timeout: float,
            agents: list[str] | None = None) -> list[float]:
    """Ask each question in a fresh chat (with each of `agents`, when given); returns the Enter-to-first-step
    times in ms."""
    from playwright.sync_api import sync_playwright

    from tests.harness import enter_to_first_step_ms, launch_chromium

    out = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(answer_timeout * 1000)
        t0 = time.perf_counter()
        while True:  # the demo corpus must be indexed before a question can be retrieved
            page.goto(url)
            page.wait_for_selector("#chat-question textarea")
            page.wait_for_timeout(1000)  # let the page's load events finish
            status = page.locator("#chat-status .prose").first.inner_text()
            if "Demo corpus: ready" in status:
                break
            if time.perf_counter() - t0 > ready_timeout:
                raise TimeoutError(f"the demo corpus was not ready after {ready_timeout:.0f} s: {status}")
            print(f"  waiting: {status}", flush=True)
            time.sleep(5)
        print(f"  status: {' '.join(status.split())}", flush=True)
        for agent, q in [(a, q) for a in agents or [""] for q in questions]:  # each in a fresh chat
            marker = pick_agent(page, agent) if agent else "retrieve:"
            ms = enter_to_first_step_ms(page, q, marker=marker, timeout_ms=answer_timeout * 1000)
            out.append(ms)
            print(f"  {ms:7.0f} ms  {agent + ': ' if agent else ''}{q}", flush=True)
            page.wait_for_function(  # the run must end before the next question (one LLM, one queue slot)
                "() => document.querySelectorAll(\"#chat-bot a[href*='?run=']\").length > 0",
                timeout=answer_timeout * 1000)
        browser.close()
    return out


def bench_subprocess(args: argparse.Namespace) -> tuple[float, list[float]]:
    """Start `python app.py` and measure it."""
    from tests.harness import free_port

    home = Path(args.home or tempfile.mkdtemp(prefix="ragscope-bench-"))
    port = free_port()
    env = {**os.environ, "RAGSCOPE_HOME": str(home), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    url = f"http://127.0.0.1:{port}/"
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "bench-app.log", "w")  # noqa: SIM115 - closed in finally
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(url, args.start_timeout, proc)
        start = time.perf_counter() - t0
        print(f"app serving after {start:.2f} s ({url}, home {home})", flush=True)
        return start, measure(url, QUESTIONS[: args.questions], args.answer_timeout, args.ready_timeout,
                              args.agent_list)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def bench_inprocess(args: argparse.Namespace) -> tuple[float, list[float]]:
    """Build Services (real embedder and Chroma, stand-in LLM), index the demo corpus, then measure
    build+launch of the UI and the browser latency."""
    from tests.doubles import DemoOracleLLM
    from tests.harness import start_app

    home = Path(args.home or tempfile.mkdtemp(prefix="ragscope-bench-")) / "home"
    app = start_app(home, llm=DemoOracleLLM(delay=args.llm_delay))
    try:
        wait_http(app.url, 30)
        print(f"UI built and serving after {app.start_seconds:.2f} s ({app.url})", flush=True)
        return app.start_seconds, measure(app.url, QUESTIONS[: args.questions], args.answer_timeout,
                                          args.ready_timeout, args.agent_list)
    finally:
        app.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fake-llm", action="store_true", help="in-process app with a stand-in LLM")
    p.add_argument("--llm-delay", type=float, default=0.5, help="stand-in LLM seconds per call (--fake-llm)")
    p.add_argument("--questions", type=int, default=3, help=f"questions to ask (at most {len(QUESTIONS)})")
    p.add_argument("--home", help="RAGSCOPE_HOME to use (default: a fresh temp folder)")
    p.add_argument("--start-timeout", type=float, default=300)
    p.add_argument("--ready-timeout", type=float, default=600, help="seconds to wait for the demo corpus")
    p.add_argument("--answer-timeout", type=float, default=600, help="seconds to wait for each answer")
    p.add_argument("--agents", default="", help="comma-separated agents (or 'all'): Enter to the first step shown")
    args = p.parse_args()
    from agents import registry

    args.agent_list = registry.names() if args.agents == "all" else [a for a in args.agents.split(",") if a]
    start, times = (bench_inprocess if args.fake_llm else bench_subprocess)(args)
    print(f"\nstart-to-serving: {start:.2f} s")
    print(f"enter-to-first-step: median {statistics.median(times):.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f}, n={len(times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
