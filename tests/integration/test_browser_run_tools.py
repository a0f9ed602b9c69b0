"""The trace viewer's tools in a real browser (Debian's chromium, demo corpus, real embedder and Chroma, the demo
oracle LLM): a run's gold-passage ranks per step and its verdict; 'why not this passage?' ranks per query; replay
with another agent and the step-aligned diff, stored and shown again on the replay's share link.
Screenshots go under artifacts/screenshots/tools-*.png."""

from __future__ import annotations

import re

import pytest

from evaluation.lost import where_lost
from evaluation.stored import demo_gold
from evaluation.why_not import why_not
from storage.results import ResultStore
from tests.harness import shot

pytestmark = pytest.mark.integration

QUESTION = "On which river stands the town that hosts the Feast of Reeds?"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from tests.harness import start_app

    running = start_app(tmp_path_factory.mktemp("ui-run-tools") / "home", single_user=True)
    run = running.services.run("naive", "demo", QUESTION)
    list(run)
    running.run_id = run.run_id
    yield running
    running.close()


def test_gold_ranks_per_step_and_the_verdict(app, page) -> None:
    page.goto(f"{app.url}?run={app.run_id}")
    lost = page.locator("#viewer-lost")
    lost.get_by_text("Gold from demo questions").wait_for()
    stored = app.services.db.get_run(app.run_id)
    gold = demo_gold(QUESTION)
    report = where_lost(stored["events"], gold.gold_ids, gold.answers, stored["answer"])
    lost.get_by_text(report.sentence.partition(": ")[2]).wait_for()
    for g in report.steps[0].gold:  # each gold passage's rank and score at the search, as stored
        expected = f"rank {g.rank} ({g.score:.3f})" if g.rank else "not retrieved"
        lost.get_by_text(expected).first.wait_for()
    shot(page, "tools-where-lost")


def test_why_not_this_passage_gives_ranks_per_query(app, page) -> None:
    page.goto(f"{app.url}?run={app.run_id}")
    page.locator("#viewer-lost").get_by_text("Gold from").wait_for()
    page.locator("#viewer-whynot-box").get_by_text("Why not this passage?").first.click()
    box = page.locator("#viewer-whynot-search textarea, #viewer-whynot-search input").first
    box.fill("Mirrowgate")
    box.press("Enter")
    page.wait_for_function("() => document.querySelector('#viewer-whynot-pick input').value.includes('Mirrowgate')")
    page.locator("#viewer-whynot-check").click()
    result = page.locator("#viewer-whynot")
    result.get_by_text("Mirrowgate").first.wait_for()
    stored = app.services.db.get_run(app.run_id)
    doc = next(d.doc_id for d in app.services.documents("demo", search="Mirrowgate") if d.title == "Mirrowgate")
    (row,) = why_not(app.services, stored, doc, "public")  # the naive run made one search
    result.get_by_text(f"cosine {row.score:.4g}").first.wait_for()
    result.get_by_text(row.sentence()).first.wait_for()
    shot(page, "tools-why-not")


def test_replay_with_another_agent_and_the_step_aligned_diff(app, page, browser) -> None:
    page.goto(f"{app.url}?run={app.run_id}")
    page.locator("#viewer-lost").get_by_text("Gold from").wait_for()
    page.locator("#viewer-replay-box").get_by_text("Replay with another agent").first.click()
    agent = page.locator("#viewer-replay-agent input")
    agent.fill("HippoRAG")
    page.get_by_role("option", name=re.compile("HippoRAG")).first.click()
    page.locator("#viewer-replay-settings textarea, #viewer-replay-settings input").first.fill("top_k=3")
    page.locator("#viewer-replay-run").click()
    page.locator("#viewer-replay-status").get_by_text("Replay stored as run").wait_for()
    diff = page.locator("#viewer-replay-diff")
    diff.get_by_text("Steps, aligned").wait_for()
    replays = ResultStore(app.services.db).replays(app.run_id)
    assert len(replays) == 1
    replay = app.services.db.get_run(replays[0])
    assert replay["agent"] == "hipporag" and replay["config"]["top_k"] == 3 and replay["question"] == QUESTION
    page.locator("#viewer-header").get_by_text("agent hipporag").wait_for()  # the viewer opened the replay
    diff.get_by_text("1. retrieve").first.wait_for()
    diff.get_by_text("1. graph_walk").first.wait_for()  # the search and the walk, side by side
    diff.get_by_text("The runs first differ at").wait_for()
    shot(page, "tools-replay-diff")
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # the replay's share link
    other.goto(f"{app.url}?run={replay['id']}")
    other.locator("#viewer-replay-diff").get_by_text("This run is a replay.").wait_for(timeout=60_000)
    other.locator("#viewer-replay-diff").get_by_text("Steps, aligned").wait_for()
    other.context.close()
