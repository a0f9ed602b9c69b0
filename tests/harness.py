"""Start the real app in-process for tests and benchmarks (real embedder and Chroma, a stand-in LLM), and drive
it in Debian's chromium."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.doubles import DemoOracleLLM


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningApp:
    """A served app: its URL, services and Blocks (call `close()` when done)."""

    url: str
    services: Any
    demo: Any
    start_seconds: float  # build + launch, after services exist

    def close(self) -> None:
        """Stop the server."""
        self.demo.close()


def start_app(home: Path, llm: Any | None = None, port: int | None = None, index_demo: bool = True,
              real_llm: bool = False, **settings: Any) -> RunningApp:
    """Build Services on `home` (real embedder and Chroma unless overridden; the demo oracle LLM unless `llm`
    or `real_llm`, the default model), index the demo corpus, then build and launch the UI in a background
    thread on 127.0.0.1:`port`."""
    from services import Services
    from settings import Settings
    from ui.app import build_app, launch

    services = Services(Settings.from_env(home=home, **settings), llm=None if real_llm else llm or DemoOracleLLM())
    if index_demo:
        services.ensure_demo_corpus()
    t0 = time.perf_counter()
    demo = build_app(services)
    port = port or free_port()
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return RunningApp(url=url.rstrip("/") + "/", services=services, demo=demo,
                      start_seconds=time.perf_counter() - t0)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

# Installed in the page before pressing Enter: records when Enter went down and when the first step appeared.
FIRST_STEP_PROBE = """
([botSelector, boxSelector, marker]) => {
  window.__rs = {enter: null, first: null};
  const bot = document.querySelector(botSelector);
  const box = document.querySelector(boxSelector);
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter' && window.__rs.enter === null)
    window.__rs.enter = performance.now(); }, {capture: true});
  const seen = () => { if (window.__rs.enter !== null && window.__rs.first === null && bot.innerText.includes(marker))
    window.__rs.first = performance.now(); };
  new MutationObserver(seen).observe(bot, {subtree: true, childList: true, characterData: true});
}
"""


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium driven by playwright (never `playwright install`); a clear error when it is missing."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def enter_to_first_step_ms(page: Any, question: str, marker: str = "retrieve:", timeout_ms: float = 60_000) -> float:
    """Type `question` in the Chat box, press Enter, and return the ms until the first step is visible."""
    if page.locator("#chat-bot [data-testid=user]").count():
        page.locator("#chat-new").click()  # start from an empty chat so an old step cannot count
        page.wait_for_function("() => !document.querySelector('#chat-bot [data-testid=user]')")
    box = page.locator("#chat-question textarea")
    box.fill(question)
    page.evaluate(FIRST_STEP_PROBE, ["#chat-bot", "#chat-question textarea", marker])
    box.press("Enter")
    page.wait_for_function("() => window.__rs && window.__rs.first !== null", timeout=timeout_ms)
    times = page.evaluate("() => window.__rs")
    return float(times["first"] - times["enter"])


def message_text(message: dict) -> str:
    """The text of a chat message as gradio_client returns it (a string, or a list of text parts)."""
    content = message["content"]
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def shot(page: Any, name: str) -> None:
    """A full-page screenshot under artifacts/screenshots/, after transitions settle."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(400)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
