"""Two people in two browser contexts: each has their own TiM memory, and never sees the other's.

Real chromium, the real app and embedder, an LLM double that post-thinks whatever the user says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from llm.base import Choice, Completion, Message
from llm.fake import ScriptedLLM

pytestmark = pytest.mark.integration
TIMEOUT = 60_000
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


class EchoThinker(ScriptedLLM):
    """Replies 'Noted.'; post-thinks a message 'X' into 'The user said X'; every choice takes the first option."""

    name = "echo-thinker (test)"

    def chat(self, messages: Sequence[Message], max_tokens: int = 256, stop: Sequence[str] | None = None
             ) -> Completion:
        """A thought for post-think prompts, else a short reply."""
        last = messages[-1]["content"]
        said = re.match(r"User: (.+)\nThoughts:$", last, flags=re.S)
        text = f"The user said {said.group(1).rstrip('.')}." if said else "Noted."
        return Completion(text=text, prompt_tokens=len(" ".join(m["content"] for m in messages).split()),
                          completion_tokens=len(text.split()))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from tests.harness import start_app

    running = start_app(tmp_path_factory.mktemp("memory-browser") / "home", llm=EchoThinker(), index_demo=False,
                        demo_corpus=False)
    yield running
    running.close()


def open_page(browser, url: str):
    """A page in a fresh browser context (its own local storage, so its own browser id)."""
    context = browser.new_context(viewport={"width": 1300, "height": 950})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    page.wait_for_selector("#chat-question textarea")
    page.wait_for_timeout(800)  # let the page's load events (the browser id) finish
    return context, page


def tell_tim(page, message: str) -> None:
    """Ask the tim agent in the Chat tab and wait for its reply."""
    page.get_by_role("tab", name=re.compile("Chat")).click()
    page.locator("#chat-agent input").click()
    page.get_by_role("option", name=re.compile("Think-in-Memory")).click()
    links = page.locator("#chat-bot a[href*='?run=']")
    before = links.last.get_attribute("href") if links.count() else None
    page.locator("#chat-question textarea").fill(message)
    page.locator("#chat-question textarea").press("Enter")
    links.last.wait_for()
    for _ in range(400):  # the reply is in when a link to a new run shows
        if links.count() and links.last.get_attribute("href") != before:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"no reply to {message!r}")


def memory_text(page) -> str:
    """What the Memory tab shows after a refresh."""
    page.get_by_role("tab", name=re.compile("Memory")).click()
    page.locator("#memory-refresh").click()
    page.locator("#memory-summary").get_by_text("Memory of").wait_for()
    page.wait_for_timeout(500)
    for _ in range(100):  # on a busy machine the refresh may still be running: wait until it has finished
        text = page.locator("#memory-table").inner_text() + page.locator("#memory-summary").inner_text()
        if "processing" not in text:
            return text
        page.wait_for_timeout(300)
    return text


def test_two_browsers_have_separate_memories(app, browser) -> None:
    ctx_a, a = open_page(browser, app.url)
    ctx_b, b = open_page(browser, app.url)
    try:
        tell_tim(a, "My dog is called Juno.")
        assert "Juno" in memory_text(a)
        assert "Juno" not in memory_text(b) and "0 active" in memory_text(b)
        tell_tim(b, "I live in Lisbon.")
        seen_b, seen_a = memory_text(b), memory_text(a)
        SHOTS.mkdir(parents=True, exist_ok=True)
        a.screenshot(path=str(SHOTS / "memory.png"), full_page=True)
        assert "Lisbon" in seen_b and "Juno" not in seen_b
        assert "Juno" in seen_a and "Lisbon" not in seen_a
        from sqlalchemy import select

        from storage.models import Thought

        with app.services.db.session() as s:
            owners = set(s.scalars(select(Thought.user)))
        assert len(owners) == 2 and all(o.startswith("browser-") for o in owners)
        a.reload()  # the browser keeps its id: the memory is still there after a reload
        a.wait_for_selector("#chat-question textarea")
        a.wait_for_timeout(800)
        assert "Juno" in memory_text(a)
        keys = [k for k in a.evaluate("() => Object.keys(localStorage)") if "ragscope-user" in k]
        assert keys, "the browser id lives in local storage"
    finally:
        ctx_a.close()
        ctx_b.close()


class BandFan(ScriptedLLM):
    """A double for the whole TiM turn: writes a 'favourite band' record from the user's words, says yes to every
    gate, and answers a check with the fact's value when the question is about a band."""

    name = "band-fan (test)"

    def chat(self, messages: Sequence[Message], max_tokens: int = 256, stop: Sequence[str] | None = None
             ) -> Completion:
        """A fact record for the record prompt, else a short reply."""
        last = messages[-1]["content"]
        said = re.match(r"Message: (?:Honestly )?(?:My favourite band is (\w+)|(\w+) have replaced)", last)
        if said:
            band = said.group(1) or said.group(2)
            text = json.dumps({"facts": [{"subject": "user", "attribute": "favourite band", "value": band}]})
        else:
            text = "Noted."
        return Completion(text=text, prompt_tokens=len(" ".join(m["content"] for m in messages).split()),
                          completion_tokens=len(text.split()))

    def structured(self, messages: Sequence[Message], schema: dict, max_tokens: int = 256) -> Completion:
        """The record, as grammar-constrained decoding would give it."""
        return self.chat(messages, max_tokens)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """Yes to the gates; a check picks the value when the question is about a band."""
        last = messages[-1]["content"]
        pick = options[0]
        if "not stated" in options and "band" not in last.split("Question:")[-1]:
            pick = "not stated"
        return Choice(option=pick, scores={o: (0.0 if o == pick else -5.0) for o in options})


@pytest.fixture(scope="module")
def band_app(tmp_path_factory: pytest.TempPathFactory):
    from tests.harness import start_app

    running = start_app(tmp_path_factory.mktemp("memory-band") / "home", llm=BandFan(), index_demo=False,
                        demo_corpus=False)
    yield running
    running.close()


def test_a_favourite_band_is_told_updated_forgotten_and_recalled(band_app, browser) -> None:
    ctx, page = open_page(browser, band_app.url)
    try:
        tell_tim(page, "What's my favourite band?")
        bot = page.locator("#chat-bot")
        assert "You haven't told me what your favourite band is yet." in bot.inner_text()
        assert "Not in memory" in bot.inner_text()
        tell_tim(page, "My favourite band is Wilco.")
        tell_tim(page, "Honestly Beirut have replaced Wilco as my favourite band.")
        page.get_by_text(re.compile("Forgot 'The user's favourite band is Wilco")).first.wait_for()
        tell_tim(page, "What's my favourite band?")
        text = bot.inner_text()
        assert text.rstrip().count("Your favourite band is Beirut.") >= 1, text[-600:]
        assert "Recalled from memory" in text
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "memory-band-chat.png"), full_page=True)
        seen = memory_text(page)
        page.screenshot(path=str(SHOTS / "memory-band-tab.png"), full_page=True)
        assert "Beirut" in seen and "forgotten" in seen and "1 active" in seen, seen
    finally:
        ctx.close()
