"""Screenshots of each tab for docs/ui.md, taken in Debian's chromium from a running app.

    python app.py &                                   # the real app (model, demo corpus)
    python docs/make_screenshots.py --url http://127.0.0.1:7860/

Asks the real model in Chat (naive RAG), opens a HippoRAG run's graph walk in the trace viewer (it runs one if
the app has none), compares two agents, opens a demo document in Corpora, tells TiM a fact and shows the Memory
tab. Each PNG is a viewport (not the whole page) reduced to a 256-colour palette, so it stays small.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"
QUESTION = "Which comet was first sighted at Carrowdene Observatory?"
TWO_HOP = "Who founded the guild whose hall is in the village of Mirrowdale?"
WAIT_MS = 600_000  # the real model on a laptop CPU


def save(page: object, name: str) -> Path:
    """The viewport as a small palette PNG under docs/screenshots/."""
    from PIL import Image

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    page.wait_for_timeout(600)  # type: ignore[attr-defined]
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB", flush=True)
    return path


def pick(page: object, dropdown: str, option: str | re.Pattern) -> None:
    page.locator(f"{dropdown} input").click()  # type: ignore[attr-defined]
    page.get_by_role("option", name=option).click()  # type: ignore[attr-defined]


def ask(page: object, question: str) -> None:
    """Ask in Chat and wait for the answer's share link."""
    before = page.locator("#chat-bot a[href*='?run=']").count()  # type: ignore[attr-defined]
    page.locator("#chat-question textarea").fill(question)  # type: ignore[attr-defined]
    page.locator("#chat-question textarea").press("Enter")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"() => document.querySelectorAll(\"#chat-bot a[href*='?run=']\").length > {before}", timeout=WAIT_MS)


def main() -> int:
    from playwright.sync_api import sync_playwright

    from tests.harness import launch_chromium

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:7860/")
    url = p.parse_args().url.rstrip("/") + "/"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(url)
        page.wait_for_selector("#chat-question textarea")
        page.wait_for_timeout(2000)
        pick(page, "#chat-corpus", "demo")
        pick(page, "#chat-agent", re.compile("^Naive RAG"))
        ask(page, QUESTION)
        steps = page.locator("#chat-bot .thought-group")
        steps.nth(0).locator(".title").first.click()  # the search step, opened
        steps.nth(1).locator(".title").first.click()  # the reading step, opened
        steps.nth(1).locator("summary").first.click()  # with its details
        steps.nth(1).scroll_into_view_if_needed()
        save(page, "chat")

        pick(page, "#chat-agent", re.compile("^HippoRAG"))
        ask(page, TWO_HOP)
        link = page.locator("#chat-bot a[href*='?run=']").last.get_attribute("href") or ""
        page.goto(url + link[link.index("?run="):])  # its share link opens the trace viewer
        page.locator("#viewer-graph svg.graph-walk").wait_for()
        page.locator("#viewer-header").evaluate("(el) => el.scrollIntoView({block: 'start'})")
        save(page, "viewer")

        page.get_by_role("tab", name=re.compile("Compare")).click()
        agents = page.locator("#compare-agents")
        for label in agents.locator("label").all():  # two agents only: the real model is slow on a CPU
            name = label.inner_text().strip()
            on = label.locator("input").is_checked()
            if on != (name.startswith("Naive RAG") or name.startswith("HippoRAG")):
                label.click()
        page.locator("#compare-question textarea").fill(TWO_HOP)
        page.locator("#compare-run").click()
        page.locator("#compare-note").get_by_text(re.compile(r"^Done:")).wait_for(timeout=WAIT_MS)
        page.locator("#compare-summary").evaluate("(el) => el.scrollIntoView({block: 'end'})")
        save(page, "compare")

        page.get_by_role("tab", name=re.compile("Corpora")).click()
        pick(page, "#corpora-corpus", "demo")
        page.locator("#corpora-docs").get_by_text("Carrowdene Observatory").filter(visible=True).first.click()
        page.locator("#corpora-doc-text textarea").wait_for()
        page.locator("#corpora-docs").evaluate("(el) => el.scrollIntoView({block: 'start'})")
        save(page, "corpora")

        page.get_by_role("tab", name=re.compile("Chat")).click()
        page.locator("#chat-new").click()
        pick(page, "#chat-agent", re.compile("^Think-in-Memory"))
        ask(page, "I live in Osaka and I drive a red Volvo.")
        page.get_by_role("tab", name=re.compile("Memory")).click()
        page.locator("#memory-refresh").click()
        page.locator("#memory-table").get_by_text("Osaka").filter(visible=True).first.wait_for()
        save(page, "memory")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
