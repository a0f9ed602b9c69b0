"""The app in a real browser: Debian's chromium driven by playwright (never `playwright install`).

Asks a question in Chat and watches steps and the answer appear, opens the run's share link in the trace
viewer, compares agents, and uploads a file in Corpora; saves a screenshot of each tab under
artifacts/screenshots/ and prints the time from pressing Enter to the first visible step.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness import shot

pytestmark = pytest.mark.integration

QUESTION = "Which comet was first sighted at Carrowdene Observatory?"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from tests.doubles import DemoOracleLLM
    from tests.harness import start_app

    # a laptop (RAGSCOPE_SINGLE_USER): the viewer lists runs made outside this browser too
    running = start_app(tmp_path_factory.mktemp("ui-browser") / "home", llm=DemoOracleLLM(delay=0.3), single_user=True)
    yield running
    running.close()


def test_chat_streams_steps_and_answer_then_share_link_opens_viewer(app, page) -> None:
    from tests.harness import enter_to_first_step_ms

    page.goto(app.url)
    page.wait_for_selector("#chat-question textarea")
    assert "ready" in page.locator("#chat-status").inner_text()
    page.wait_for_timeout(1000)  # a person needs longer than this to type; lets the page's load events finish
    ms = enter_to_first_step_ms(page, QUESTION)
    print(f"\nEnter-to-first-step: {ms:.0f} ms")
    assert ms < 15_000
    link = page.locator("#chat-bot a[href*='?run=']").last
    link.wait_for()
    bot = page.locator("#chat-bot")
    assert "retrieve:" in bot.inner_text() and "read:" in bot.inner_text()
    assert "Grey Lantern" in bot.locator("strong").last.inner_text() or "Grey Lantern" in bot.inner_text()
    assert bot.locator("details").count() >= 1  # sources expand to their text
    page.locator("#chat-bot .thought-group .title").first.click()  # open the retrieve step
    page.locator("#chat-bot details summary").first.click()  # and the first source
    shot(page, "chat")

    href = link.get_attribute("href") or ""
    run_id = re.search(r"run=([0-9a-f]+)", href).group(1)
    page.goto(f"{app.url}?run={run_id}")
    header = page.locator("#viewer-header")
    header.get_by_text(QUESTION).wait_for()
    assert run_id in header.inner_text()
    step = page.locator("#viewer-step-header")
    step.get_by_text("Step 1 of 2").wait_for()
    assert "Carrowdene Observatory" in page.locator("#viewer-outputs").inner_text()
    page.locator("#viewer-figure img").wait_for()  # the retrieve step's bar chart
    shot(page, "viewer")
    page.locator("#viewer-next").click()
    step.get_by_text("Step 2 of 2").wait_for()
    assert "Answer the question using the passages" in page.locator("#viewer-inputs").inner_text()  # the prompt
    shot(page, "viewer-step2")


def test_a_question_sent_while_one_streams_is_asked_next_not_lost(app, page) -> None:
    page.goto(app.url)
    page.wait_for_selector("#chat-question textarea")
    page.wait_for_timeout(1000)
    box = page.locator("#chat-question textarea")
    box.fill(QUESTION)
    box.press("Enter")
    page.locator("#chat-bot").get_by_text("retrieve:").first.wait_for()  # the first run is streaming
    second = "In what year was the Guild of Tidewrights chartered?"
    box.fill(second)
    box.press("Enter")
    assert box.input_value() == second  # a step of the first run does not wipe it
    page.wait_for_function("() => (document.querySelector('#chat-bot').innerText.match(/share \\/ open/g) || [])"
                           ".length >= 2", timeout=60_000)
    text = page.locator("#chat-bot").inner_text()
    assert text.index(QUESTION) < text.index(second)  # asked after the first, in one chat
    assert "Grey Lantern" in text and "1712" in text and box.input_value() == ""


def test_viewer_lists_runs_and_filters(app, page) -> None:
    list(app.services.run("naive", "demo", "In what year was the Guild of Tidewrights chartered?"))
    page.goto(app.url)
    page.get_by_role("tab", name=re.compile("Trace viewer")).click()
    table = page.locator("#viewer-runs")
    table.get_by_text("Guild of Tidewrights").filter(visible=True).first.wait_for()
    page.locator("#viewer-search input, #viewer-search textarea").first.fill("Tidewrights")
    page.locator("#viewer-search input, #viewer-search textarea").first.press("Enter")
    page.wait_for_function("() => !document.querySelector('#viewer-runs').innerText.includes('Carrowdene')")
    table.get_by_text("Guild of Tidewrights").filter(visible=True).first.click()
    page.locator("#viewer-header").get_by_text("Guild of Tidewrights").first.wait_for()
    shot(page, "viewer-table")


def test_compare_streams_each_agent(app, page) -> None:
    page.goto(app.url)
    page.get_by_role("tab", name=re.compile("Compare")).click()
    page.locator("#compare-agents").get_by_text("Naive RAG").wait_for()
    ticked = {label.inner_text().strip(): label.locator("input").is_checked()
              for label in page.locator("#compare-agents label").all()}
    assert ticked[next(t for t in ticked if t.startswith("Naive RAG"))]
    assert not any(on for title, on in ticked.items() if "Think-in-Memory" in title or "Window" in title)
    box = page.locator("#compare-question textarea")
    box.fill("On which river stands the town that hosts the Feast of Reeds?")
    page.locator("#compare-run").click()
    page.locator("#compare-note").get_by_text(re.compile(r"^Done:")).wait_for(timeout=180_000)
    summary = page.locator("#compare-summary").inner_text()
    assert "naive" in summary and "recall@5" in summary
    shot(page, "compare")


def test_corpora_upload_lists_and_opens_a_document(app, page, tmp_path: Path) -> None:
    notes = tmp_path / "harbour-notes.md"
    notes.write_text("# Harbour of Quell\n\nThe harbour of Quell freezes every winter, and the ferry to Kell "
                     "Tarrow stops until the thaw.", encoding="utf-8")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"this is not a pdf")
    page.goto(app.url)
    page.get_by_role("tab", name=re.compile("Corpora")).click()
    page.locator("#corpora-new-name input, #corpora-new-name textarea").first.fill("browser-notes")
    page.locator("#corpora-create").click()
    page.locator("#corpora-info").get_by_text("browser-notes").wait_for()
    page.locator("#corpora-files input[type=file]").set_input_files([str(notes), str(broken)])
    page.locator("#corpora-files [aria-label='harbour-notes.md']").first.wait_for()
    page.locator("#corpora-ingest").click()
    result = page.locator("#corpora-result")
    result.get_by_text("added 1 documents").wait_for()
    assert "broken.pdf" in result.inner_text()  # the bad file is reported; the good one is indexed
    page.locator("#corpora-docs").get_by_text("Harbour of Quell").filter(visible=True).first.click()
    page.locator("#corpora-doc-text textarea").wait_for()
    assert "freezes every winter" in page.locator("#corpora-doc-text textarea").input_value()
    shot(page, "corpora")
    # the new corpus is offered in the Chat tab without a reload
    page.get_by_role("tab", name=re.compile("Chat")).click()
    page.locator("#chat-corpus input").click()
    page.get_by_role("option", name="browser-notes").wait_for()
    page.keyboard.press("Escape")
    # delete the document, then the corpus, each after a confirmation
    page.get_by_role("tab", name=re.compile("Corpora")).click()
    page.locator("#corpora-delete-doc").click()
    page.locator("#corpora-confirm-delete-doc").click()
    page.locator("#corpora-info").get_by_text("0 documents").wait_for()
    assert app.services.db.list_documents(app.services.db.corpus_id("browser-notes")) == []
    page.locator("#corpora-delete-corpus").click()
    page.locator("#corpora-confirm-delete-corpus").click()
    page.wait_for_function("() => !document.querySelector('#corpora-info').innerText.includes('browser-notes')")
    assert "browser-notes" not in [c.name for c in app.services.db.list_corpora()]


def test_agent_choice_shows_its_card_and_settings(app, page) -> None:
    from agents import registry

    specs = registry.all_specs()
    other = specs[-1]
    page.goto(app.url)
    page.wait_for_selector("#chat-question textarea")
    page.get_by_text("Agent settings").click()
    first_field = f"#cfg-{specs[0].name}-{__import__('dataclasses').fields(specs[0].config_cls)[0].name}"
    page.locator(first_field).wait_for()
    page.locator("#chat-agent input").click()
    page.get_by_role("option", name=other.title).click()
    page.get_by_text(other.summary[:40]).wait_for()
    fields = __import__("dataclasses").fields(other.config_cls)
    if fields:
        page.locator(f"#cfg-{other.name}-{fields[0].name}").wait_for()
    if other.name != specs[0].name:
        page.locator(first_field).wait_for(state="hidden")
    shot(page, "chat-settings")
