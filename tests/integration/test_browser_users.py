"""Users in a real browser (Debian's chromium, two contexts = two strangers on one Space).

A corpus is private to the browser that made it: another browser neither lists, reads, asks nor deletes it.
A question sent before the page's load event has stored the browser's id still belongs to that id, on the
first visit and after a reload. Screenshots go under artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.harness import shot

pytestmark = pytest.mark.integration

TIMEOUT = 60_000
QUESTION = "Which comet was first sighted at Carrowdene Observatory?"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from tests.doubles import DemoOracleLLM
    from tests.harness import start_app

    running = start_app(tmp_path_factory.mktemp("ui-users") / "home", llm=DemoOracleLLM())  # a shared Space
    yield running
    running.close()


def _open(browser, url: str):  # noqa: ANN001, ANN202 - playwright objects
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    page.wait_for_selector("#chat-question textarea")
    page.wait_for_timeout(1000)  # a person takes longer to start typing
    return page


def _choose_corpus(page, element: str, name: str) -> None:  # noqa: ANN001
    page.locator(f"#{element} input").fill(name)
    page.locator(f"#{element} input").press("Enter")


def _options(page, element: str) -> list[str]:  # noqa: ANN001
    page.locator(f"#{element} input").click()
    page.get_by_role("option").first.wait_for()
    names = [o.replace("✓", "").strip() for o in page.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    return names


def test_a_corpus_is_private_to_the_browser_that_made_it(app, browser, tmp_path: Path) -> None:
    note = tmp_path / "ann-harbour.md"
    note.write_text("# Ann's harbour\n\nThe harbour of Quell is Ann's secret: it freezes every winter.",
                    encoding="utf-8")
    ann, bob = _open(browser, app.url), _open(browser, app.url)
    # Ann makes a corpus and indexes a file into it
    ann.get_by_role("tab", name=re.compile("Corpora")).click()
    ann.locator("#corpora-new-name input, #corpora-new-name textarea").first.fill("ann-notes")
    ann.locator("#corpora-create").click()
    ann.locator("#corpora-info").get_by_text("ann-notes").wait_for()
    ann.locator("#corpora-files input[type=file]").set_input_files([str(note)])
    ann.locator("#corpora-files [aria-label='ann-harbour.md']").wait_for()
    ann.locator("#corpora-ingest").click()
    ann.locator("#corpora-result").get_by_text("added 1 documents").wait_for()
    ann.locator("#corpora-info").get_by_text("yours").wait_for()
    shot(ann, "users-ann-corpora")
    for element in ("chat-corpus", "compare-corpus"):  # offered in Ann's other tabs without a reload
        ann.get_by_role("tab", name=re.compile("Chat" if element == "chat-corpus" else "Compare")).click()
        assert "ann-notes" in _options(ann, element)

    # Bob, another browser, does not see it anywhere
    bob.get_by_role("tab", name=re.compile("Corpora")).click()
    assert _options(bob, "corpora-corpus") == ["demo"]
    bob.get_by_role("tab", name=re.compile("Chat")).click()
    assert "ann-notes" not in _options(bob, "chat-corpus")
    bob.reload()  # nor after a reload (the dropdowns are filled on page load)
    bob.wait_for_selector("#chat-question textarea")
    bob.wait_for_timeout(1000)
    assert "ann-notes" not in _options(bob, "chat-corpus")
    # typing its name does not reach it: not listed, not readable, not askable, not deletable
    bob.get_by_role("tab", name=re.compile("Corpora")).click()
    _choose_corpus(bob, "corpora-corpus", "ann-notes")
    bob.locator("#corpora-info").get_by_text("not found").wait_for()
    assert "Quell" not in bob.locator("#corpora-docs").inner_text()
    bob.locator("#corpora-delete-corpus").click()
    bob.get_by_text("There is no corpus 'ann-notes' to delete.").first.wait_for()
    assert not bob.locator("#corpora-confirm-delete-corpus").is_visible()
    shot(bob, "users-bob-corpora")
    bob.get_by_role("tab", name=re.compile("Chat")).click()
    _choose_corpus(bob, "chat-corpus", "ann-notes")
    bob.locator("#chat-question textarea").fill("Which harbour freezes every winter?")
    bob.locator("#chat-question textarea").press("Enter")
    bob.locator("#chat-bot").get_by_text("unknown corpus").first.wait_for()
    shot(bob, "users-bob-chat")

    services = app.services
    [corpus] = [c for c in services.db.list_corpora(None) if c.name == "ann-notes"]
    assert corpus.owner.startswith("browser-") and corpus.documents == 1  # Ann's, whole
    assert not [r for r in services.db.list_runs() if r["corpus"] == "ann-notes"]  # Bob's question never ran
    # Ann still asks it
    ann.get_by_role("tab", name=re.compile("Chat")).click()
    _choose_corpus(ann, "chat-corpus", "ann-notes")
    ann.locator("#chat-question textarea").fill("Which harbour freezes every winter?")
    ann.locator("#chat-question textarea").press("Enter")
    ann.locator("#chat-bot a[href*='?run=']").last.wait_for()
    [run] = [r for r in services.db.list_runs() if r["corpus"] == "ann-notes"]
    assert run["owner"] == corpus.owner and run["status"] == "done"
    shot(ann, "users-ann-chat")
    ann.context.close()
    bob.context.close()


def test_a_question_sent_before_the_page_load_belongs_to_the_browser(app, browser, monkeypatch) -> None:
    from ui import users

    real = users.on_load

    def slow_load(stored, request):  # noqa: ANN001, ANN202 - the load event, 4 s late
        time.sleep(4)
        return real(stored, request)

    monkeypatch.setattr(users, "on_load", slow_load)
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(TIMEOUT)
    owners = []
    for visit in ("first visit", "reload"):
        started = time.perf_counter()
        page.goto(app.url) if visit == "first visit" else page.reload()
        box = page.locator("#chat-question textarea")
        box.fill(f"{QUESTION} ({visit})")  # at once: the load event is still running
        box.press("Enter")
        page.locator("#chat-bot a[href*='?run=']").last.wait_for()
        link = page.locator("#chat-bot a[href*='?run=']").last.get_attribute("href") or ""
        owners.append(app.services.db.get_run(link.split("run=")[-1])["owner"])
        asked = time.perf_counter() - started
        assert asked < 4 or visit == "reload"  # the question went before the load had finished
        page.wait_for_function(f"() => localStorage.getItem('{users.STORAGE_KEY}')")  # the load stored the id
        page.get_by_role("tab", name=re.compile("Trace viewer")).click()
        page.locator("#viewer-runs").get_by_text(visit).filter(visible=True).first.wait_for()  # listed as its run
        page.get_by_role("tab", name=re.compile("Chat")).click()
    assert owners[0] == owners[1] and users.valid_browser_id(owners[0])
    page.context.close()
