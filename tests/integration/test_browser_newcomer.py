"""A newcomer's run through the app in a real browser (issue 28): Debian's chromium driven by playwright.

The page follows what was chosen (hint, examples and status line by corpus and agent; agent, corpus and settings
kept across a reload); a question over the limit stays in the box with a live count; screen readers get the text
that is shown; every agent shows a step naming what it does before its first result; steps in the viewer show no
JSON, ids or epoch times, and times on the browser's clock; the graph has one node per entity and labels that do
not overlap; tables stay inside their panels. The app is real (embedder, Chroma, SQLite); the LLM is the demo
oracle behind a gate the tests can close. Screenshots go to artifacts/screenshots/newcomer-*.png.
"""

from __future__ import annotations

import datetime
import re
import threading
from zoneinfo import ZoneInfo

import pytest

from tests.doubles import DemoOracleLLM
from tests.harness import shot

pytestmark = pytest.mark.integration
LIMIT = 300
ZONE = "Asia/Tokyo"
LIGHTHOUSES = [("Greyhollow Light", "The Greyhollow Light stands on a basalt stack at the mouth of the River Skellan."),
               ("Keepers of the Light", "Three families kept the Greyhollow Light between 1801 and 1930.")]


class GatedLLM(DemoOracleLLM):
    """The demo oracle, whose every call first waits for an open gate (open unless a test closes it)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def chat(self, messages, max_tokens=256, stop=None):  # noqa: ANN001, ANN201 - the LLM interface
        """Wait for the gate, then answer as the oracle does."""
        self.gate.wait(120)
        return super().chat(messages, max_tokens, stop)

    def choose(self, messages, options):  # noqa: ANN001, ANN201
        """Wait for the gate, then choose as the oracle does."""
        self.gate.wait(120)
        return super().choose(messages, options)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from retrieval.readers import RawDocument
    from tests.harness import start_app

    running = start_app(tmp_path_factory.mktemp("ui-newcomer") / "home", llm=GatedLLM(), single_user=True,
                        max_question_chars=LIMIT)
    running.services.ingest_documents("lighthouses", [RawDocument(f"light{i}", title, text, "lights.md")
                                                      for i, (title, text) in enumerate(LIGHTHOUSES)])
    yield running
    running.services.llm.gate.set()
    running.close()


@pytest.fixture
def tokyo(browser):
    """A page whose browser clock is in Tokyo."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id=ZONE)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def pick(page, dropdown: str, option: str | re.Pattern) -> None:
    """Choose an option of a dropdown as a person does."""
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option).click()


def open_chat(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#chat-question textarea")
    page.wait_for_timeout(1500)  # the page's load events: the browser id, fresh lists, the choices kept


def store_run(services, agent: str, question: str, events: list, answer: str = "Corwen Halloway") -> str:
    """A finished run with these events, as the runner stores one."""
    db = services.db
    run_id = db.create_run(agent, "demo", question, {"max_iterations": 3, "answer_after": 2})
    for i, event in enumerate(events):
        db.add_event(run_id, i, event.to_dict())
    db.finish_run(run_id, answer=answer, status="done", seconds=sum(e.seconds for e in events),
                  llm_calls=sum(e.llm_calls for e in events), prompt_tokens=sum(e.prompt_tokens for e in events),
                  completion_tokens=sum(e.completion_tokens for e in events))
    return run_id


def test_hint_examples_and_status_follow_the_corpus_and_agent_and_stay_after_a_reload(app, page) -> None:
    open_chat(page, app.url)
    examples, bot, status = page.locator("#chat-examples"), page.locator("#chat-bot"), page.locator("#chat-status")
    assert "Quillmarch Isles" in bot.inner_text() and "Demo corpus: ready" in status.inner_text()
    examples.get_by_text("Which comet was first sighted at Carrowdene Observatory?").wait_for()
    pick(page, "#chat-corpus", "lighthouses")
    examples.get_by_text("Tell me about Greyhollow Light.").wait_for()  # the corpus's own titles suggest questions
    bot.get_by_text(re.compile("about “lighthouses” \\(2 documents\\)")).wait_for()
    assert "Quillmarch" not in examples.inner_text() and "Quillmarch" not in bot.inner_text()
    page.wait_for_function("() => !document.querySelector('#chat-status').innerText.includes('Demo corpus')")
    assert "lighthouses" in status.inner_text()  # the demo corpus's state is no longer shown: it is not chosen
    examples.get_by_text("Tell me about Keepers of the Light.").click()  # an example fills the box
    page.wait_for_function("() => document.querySelector('#chat-question textarea').value === "
                           "'Tell me about Keepers of the Light.'")
    pick(page, "#chat-agent", re.compile("Think-in-Memory"))
    examples.get_by_text("Where do I live?").wait_for()  # TiM gets memory examples
    bot.get_by_text(re.compile("tell it something about yourself")).wait_for()
    page.get_by_text("Agent settings").click()
    probes = page.locator("#cfg-tim-probes input")
    probes.fill("3")
    probes.press("Tab")
    shot(page, "newcomer-chat-tim")
    page.wait_for_timeout(500)
    page.reload()
    page.wait_for_selector("#chat-question textarea")
    page.wait_for_function("() => document.querySelector('#chat-agent input').value.includes('Think-in-Memory')")
    page.wait_for_function("() => document.querySelector('#chat-corpus input').value === 'lighthouses'")
    page.get_by_text("Agent settings").click()
    assert page.locator("#cfg-tim-probes input").input_value() == "3"
    examples.get_by_text("Where do I live?").wait_for()


def test_a_question_over_the_limit_stays_in_the_box_with_a_live_count(app, page) -> None:
    open_chat(page, app.url)
    box, count = page.locator("#chat-question textarea"), page.locator("#chat-count")
    box.fill("Which comet was first sighted?")
    count.get_by_text(f"30 / {LIMIT} characters").wait_for()  # live, as it is typed
    long = "Which comet was first sighted at Carrowdene Observatory? " * 6
    box.fill(long)
    count.get_by_text(re.compile(f"{len(long.strip())} / {LIMIT} characters: shorten the question")).wait_for()
    box.press("Enter")
    page.get_by_text(re.compile(f"at most {LIMIT} are allowed")).first.wait_for()  # the warning says why
    page.wait_for_timeout(1000)
    assert box.input_value() == long  # nothing lost: the text to shorten is still there
    assert page.locator("#chat-bot [data-testid=user]").count() == 0  # and it was not echoed
    shot(page, "newcomer-limit")
    box.fill(long[:120])
    box.press("Enter")
    page.locator("#chat-bot a[href*='?run=']").last.wait_for()  # shortened, it is asked
    assert box.input_value() == ""


def test_screen_readers_read_the_text_that_is_shown(app, page) -> None:
    open_chat(page, app.url)
    box = page.locator("#chat-question textarea")
    box.fill("Which comet was first sighted at Carrowdene Observatory? (a <span> & **bold** test.)")
    box.press("Enter")
    page.locator("#chat-bot a[href*='?run=']").last.wait_for()
    page.locator("#chat-bot .thought-group .title").first.click()  # open a step: its body is read too
    page.wait_for_timeout(800)
    messages = page.locator("#chat-bot [data-testid=user][aria-label], #chat-bot [data-testid=bot][aria-label]")
    assert messages.count() >= 3
    for message in messages.all():
        label = message.get_attribute("aria-label") or ""
        shown = " ".join(message.inner_text().split())
        assert label in (f"Your message: {shown}", f"Agent's message: {shown}"), (label, shown)
        assert "&#" not in label and "<span class" not in label  # no markup source (the question's own stays)
    tree = page.locator("#chat-bot").aria_snapshot()
    assert "&#" not in tree and "<span class" not in tree
    assert "a <span> & **bold** test." in tree  # what the user typed, read as typed


@pytest.mark.parametrize("agent", ["naive", "auto_rag", "iter_retgen", "hipporag", "retro_rag", "tim", "window",
                                   "full_history"])
def test_every_agent_shows_a_step_naming_what_it_does_before_its_first_result(app, page, agent: str) -> None:
    from agents import registry
    from tests.harness import FIRST_STEP_PROBE
    from ui.hints import waiting

    open_chat(page, app.url)
    pick(page, "#chat-agent", registry.get(agent).title)
    app.services.llm.gate.clear()  # the model answers nothing until the step is seen
    try:
        box = page.locator("#chat-question textarea")
        box.fill("Which comet was first sighted at Carrowdene Observatory?")
        expected = waiting(agent)
        page.evaluate(FIRST_STEP_PROBE, ["#chat-bot", "#chat-question textarea", expected])
        page.evaluate("""() => { const bot = document.querySelector('#chat-bot'); window.__rs.steps = [];
            new MutationObserver(() => { for (const t of bot.querySelectorAll('.thought-group .title'))
              { const s = t.innerText.trim(); if (s && !window.__rs.steps.includes(s)) window.__rs.steps.push(s); } })
              .observe(bot, {subtree: true, childList: true, characterData: true}); }""")
        box.press("Enter")
        page.wait_for_function("() => window.__rs.first !== null")
        times = page.evaluate("() => window.__rs")
        print(f"\n{agent}: Enter to '{expected}' {times['first'] - times['enter']:.0f} ms")
        assert times["steps"] and expected in times["steps"][0], times["steps"]  # the first step names the work
    finally:
        app.services.llm.gate.set()
    page.locator("#chat-bot a[href*='?run=']").last.wait_for(timeout=120_000)


def test_viewer_steps_show_words_and_labelled_numbers_never_json_ids_or_epoch_times(app, tokyo) -> None:
    from tests.unit.ui_events import auto_rag_read_event, plan_event, tim_events

    run_id = store_run(app.services, "auto_rag", "Who founded the guild whose hall is in Mirrowdale?",
                       [plan_event(), auto_rag_read_event()])
    memory_id = store_run(app.services, "tim", "Where do I live?", tim_events(), "You told me: You live in Osaka.")
    tokyo.goto(f"{app.url}?run={run_id}")
    header, step = tokyo.locator("#viewer-header"), tokyo.locator("#viewer-step-header")
    step.get_by_text("Step 1 of 2").wait_for()
    started = app.services.db.get_run(run_id)["started"]
    local = datetime.datetime.fromtimestamp(started, ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")
    header.get_by_text(re.compile(re.escape(local))).wait_for()  # the browser's clock, not the server's
    assert "UTC" not in header.inner_text() and run_id in (header.locator("a").first.get_attribute("href") or "")
    outputs = tokyo.locator("#viewer-outputs")
    outputs.get_by_text("What it needs to know:").wait_for()
    assert "analysis:" not in outputs.inner_text() and "query_reply" not in outputs.inner_text()
    tokyo.locator("#viewer-next").click()
    step.get_by_text("Step 2 of 2").wait_for()
    outputs.get_by_text("Sentences kept so far").wait_for()
    outputs.locator("summary", has_text="details").click()  # the numbers, folded until asked for
    outputs.get_by_text("answer vs 'unknown' (log-likelihood difference)").first.wait_for()
    shot(tokyo, "newcomer-viewer-details")
    for run in (run_id, memory_id):
        tokyo.goto(f"{app.url}?run={run}")
        step.get_by_text("Step 1 of 2").wait_for()
        for i in range(tokyo.locator("#viewer-timeline label").count()):
            tokyo.locator("#viewer-timeline label").nth(i).click()
            step.get_by_text(f"Step {i + 1} of 2").wait_for()
            for summary in outputs.locator("summary").all():
                summary.click()
            text = outputs.inner_text() + tokyo.locator("#viewer-inputs").inner_text() + step.inner_text()
            assert not re.search(r'[{\[]\s*"', text), text  # no JSON
            assert not re.search(r"\b[0-9a-f]{12}\b", text) and not re.search(r"passage:[0-9a-f]", text)  # no ids
            assert not re.search(r"\b1[0-9]{9}\.[0-9]+\b", text)  # no unix times
            assert "notes\nnotes" not in text.lower()
    tokyo.get_by_role("tab", name=re.compile("Trace viewer")).click()
    table = tokyo.locator("#viewer-runs")
    table.get_by_text(local).filter(visible=True).first.wait_for()
    assert not re.search(r"\b[0-9a-f]{32}\b", table.inner_text())  # runs open by a click or their link, no id


def test_the_graph_has_one_node_per_entity_and_labels_that_do_not_overlap(app, page) -> None:
    from tests.unit.ui_events import hipporag_walk_event, read_event

    run_id = store_run(app.services, "hipporag", "Who founded the guild whose hall is in the village of Mirrowdale?",
                       [hipporag_walk_event(), read_event()])
    page.goto(f"{app.url}?run={run_id}")
    picture = page.locator("#viewer-graph svg.graph-walk")
    picture.wait_for()
    labels = [t.text_content() for t in picture.locator("text").all()]
    folded = [label.casefold() for label in labels]
    assert len(folded) == len(set(folded)), labels  # one node per entity: no "mirrowdale" beside "Mirrowdale"
    assert not set(folded) & {"heart", "banks", "it", "march", "small farming village"}, labels
    assert picture.locator("g.graph-node").count() == 4
    boxes = page.evaluate("() => [...document.querySelectorAll('#viewer-graph svg.graph-walk text')].map(t => {"
                          "const b = t.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; })")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (labels, boxes)
    shot(page, "newcomer-graph")


def test_tables_stay_inside_their_panels(app, page) -> None:
    from tests.unit.ui_events import retro_revise_event

    run_id = store_run(app.services, "retro_rag", "Who founded the guild whose hall is in Mirrowdale?",
                       [retro_revise_event()])
    page.set_viewport_size({"width": 1000, "height": 900})
    page.goto(f"{app.url}?run={run_id}")
    table = page.locator("#viewer-outputs table").first
    table.wait_for()
    fits = "(el) => { const p = el.closest('.io-box').getBoundingClientRect(), t = el.getBoundingClientRect();" \
           " return t.right <= p.right + 1 && (el.scrollWidth <= el.clientWidth + 1 ||" \
           " getComputedStyle(el).overflowX === 'auto'); }"
    assert table.evaluate(fits)  # the evidence set wraps (or scrolls) inside its panel
    assert "strung along the banks" in table.inner_text()  # the claims are there, wrapped
    shot(page, "newcomer-evidence-table")
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_role("tab", name=re.compile("Compare")).click()
    page.locator("#compare-question textarea").fill("Which comet was first sighted at Carrowdene Observatory?")
    page.locator("#compare-run").click()
    page.locator("#compare-note").get_by_text(re.compile(r"^Done:")).wait_for(timeout=180_000)
    summary = page.locator("#compare-summary")
    inside = summary.evaluate("(el) => { const box = el.getBoundingClientRect(); return [...el.querySelectorAll("
                              "'th')].filter(th => { const r = th.getBoundingClientRect(); return r.width > 0 && "
                              "r.left >= box.left - 1 && r.right <= box.right + 1; })"
                              ".map(th => th.innerText.trim()); }")
    for column in ("seconds", "recall@2", "recall@5", "EM", "F1"):
        assert any(column in h for h in inside), inside  # in view without scrolling to the right
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1400  # nothing pushes the page wider
    shot(page, "newcomer-compare")
