"""The Benchmarks tab in a real browser (Debian's chromium, a multi-user app with the demo oracle LLM): stored
results as a plot and a table; a point opens its questions and a question its run in the trace viewer; a bench
started from the tab on a small corpus of the user's own appears when it ends, and only for that user.
Screenshots go under artifacts/screenshots/benchmarks-*.png."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from storage.results import ResultStore
from tests.harness import shot

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
REFERENCE = ROOT / "benchmarks" / "results" / "hotpotqa-dev-naive-hipporag.json"
TIMEOUT = 60_000


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from evaluation.bench import run_bench
    from tests.harness import start_app

    folder = tmp_path_factory.mktemp("bench-ui")
    questions = folder / "demo-dev.jsonl"
    questions.write_text("".join((DEMO / "questions.jsonl").read_text().splitlines(keepends=True)[:4]))
    reference = folder / "reference"  # committed results are read from here instead of benchmarks/results/
    reference.mkdir()
    shutil.copy(REFERENCE, reference / REFERENCE.name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("evaluation.stored.REFERENCE_DIR", reference)
        running = start_app(folder / "home")  # a shared Space: every user sees the operator's results
        running.results = run_bench(running.services, ["naive", "hipporag"], DEMO / "corpus.jsonl", questions,
                                    show_progress=False)
        yield running
        running.close()


def _open(browser, url: str):  # noqa: ANN001, ANN202 - playwright objects
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    page.wait_for_selector("#chat-question textarea")
    return page


def _benchmarks(page) -> None:  # noqa: ANN001
    page.get_by_role("tab", name=re.compile("Benchmarks")).click()
    page.locator("#bench-plot .js-plotly-plot").wait_for()


def _click_point(page, agent: str) -> None:  # noqa: ANN001
    """Click the marker of `agent`'s trace (traces are drawn in legend order)."""
    names = [t.strip() for t in page.locator("#bench-plot g.legend g.traces text.legendtext").all_text_contents()]
    point = page.locator("#bench-plot g.trace.scatter").nth(names.index(agent)).locator("path.point").first
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_results_show_as_a_plot_and_a_table_and_a_point_opens_its_questions_and_a_run(app, page) -> None:
    page.set_default_timeout(TIMEOUT)
    page.goto(app.url)
    _benchmarks(page)
    # one point per agent and dataset: the stored bench and the committed reference result
    assert page.locator("#bench-plot g.trace.scatter path.point").count() == 4
    table = page.locator("#bench-table")
    for agent in ("naive", "hipporag"):
        table.get_by_text(agent, exact=True).filter(visible=True).first.wait_for()
    assert table.get_by_text("demo-dev").filter(visible=True).count() == 2
    assert table.get_by_text("hotpotqa").filter(visible=True).count() == 2
    table.get_by_text("lost 38 of 50: 22 at retrieval").filter(visible=True).first.wait_for()  # the reference
    shot(page, "benchmarks-tab")
    page.locator("#bench-dataset input").fill("demo-dev")  # one dataset: one point per agent
    page.get_by_role("option", name="demo-dev").click()
    page.wait_for_function("() => document.querySelectorAll('#bench-plot g.trace.scatter path.point').length == 2")
    _click_point(page, "hipporag")
    page.locator("#bench-point").get_by_text("hipporag on demo-dev: 4 questions").wait_for()
    rows = app.results["per_question"]["hipporag"]
    questions = page.locator("#bench-questions")
    for row in rows:
        questions.get_by_text(row["question"]).filter(visible=True).first.wait_for()
    shot(page, "benchmarks-questions")
    questions.get_by_text(rows[1]["question"]).filter(visible=True).first.click()
    page.locator("#viewer-header").get_by_text(rows[1]["question"]).wait_for()
    page.locator("#viewer-header").get_by_text("agent hipporag").wait_for()
    page.locator("#viewer-lost").get_by_text("Gold from bench demo-dev").wait_for()  # the bench's gold, in the viewer
    assert page.locator("#viewer-run-id input, #viewer-run-id textarea").first.input_value() == rows[1]["run_id"]


def test_a_bench_from_the_tab_on_the_users_corpus_appears_when_it_ends(app, browser, tmp_path: Path) -> None:
    demo = [json.loads(line) for line in (DEMO / "corpus.jsonl").read_text().splitlines() if line.strip()]
    asked = [json.loads(line) for line in (DEMO / "questions.jsonl").read_text().splitlines()[4:6]]
    keep = {g for q in asked for g in q["gold_ids"]}
    corpus = tmp_path / "isles.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for i, d in enumerate(demo) if d["id"] in keep or i < 6))
    questions = tmp_path / "my-questions.jsonl"
    questions.write_text("".join(json.dumps({k: q[k] for k in ("question", "answers", "gold_ids")}) + "\n"
                                 for q in asked))
    ana, bo = _open(browser, app.url), _open(browser, app.url)
    ana.get_by_role("tab", name=re.compile("Corpora")).click()
    ana.locator("#corpora-new-name input, #corpora-new-name textarea").first.fill("ana-isles")
    ana.locator("#corpora-create").click()
    ana.locator("#corpora-info").get_by_text("ana-isles").wait_for()
    ana.locator("#corpora-files input[type=file]").set_input_files([str(corpus)])
    ana.locator("#corpora-files [aria-label='isles.jsonl']").wait_for()
    ana.locator("#corpora-ingest").click()
    ana.locator("#corpora-result").get_by_text("added").wait_for()

    _benchmarks(ana)
    ana.locator("#bench-run-box").get_by_text("Run a benchmark on your own corpus").click()
    ana.locator("#bench-corpus input").fill("ana-isles")
    ana.locator("#bench-corpus input").press("Enter")
    ana.locator("#bench-upload input[type=file]").set_input_files([str(questions)])
    ana.locator("#bench-upload").get_by_text("my-questions.jsonl").wait_for()
    ana.locator("#bench-start").click()
    ana.locator("#bench-progress").get_by_text("Done").wait_for()
    ana.locator("#bench-table").get_by_text("my-questions").filter(visible=True).first.wait_for()  # listed
    assert ana.locator("#bench-plot g.trace.scatter path.point").count() == 5
    ana.locator("#bench-point").get_by_text("naive on my-questions: 2 questions").wait_for()
    shot(ana, "benchmarks-own-corpus")
    (mine,) = [e for e in ResultStore(app.services.db).list_bench(None) if e["source"] == "tab"]
    assert mine["corpus"] == "ana-isles" and mine["owner"] != "public"  # stored as Ana's

    _benchmarks(bo)  # another browser: the operator's results, not Ana's
    bo.locator("#bench-table").get_by_text("demo-dev").filter(visible=True).first.wait_for()
    assert bo.locator("#bench-table").get_by_text("my-questions").filter(visible=True).count() == 0
    assert bo.locator("#bench-plot g.trace.scatter path.point").count() == 4
