"""What users and documents supply is shown as text in a real browser: no markdown, no HTML, no script.

Uploads an HTML file with <script> and onerror= (and markup written as text), asks questions that are
markup (`<img src=x onerror=alert(1)>`, `**word**`) in a corpus named like a tag, and listens for
dialogs: none may open, no <img src=x> may appear, and every such text shows literally.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TIMEOUT = 60_000
NASTY_HTML = """<html><head><title>Lantern **keepers** &lt;i&gt;log&lt;/i&gt;</title>
<script>alert('script tag')</script></head><body>
<img src=x onerror="alert('img tag')">
<p>The lantern keeper wrote &lt;img src=x onerror=alert('as text')&gt; and **never bold** in 1822.</p>
<p>She also wrote &lt;script&gt;alert('script as text')&lt;/script&gt; and [a link](javascript:alert(1)).</p>
</body></html>"""
QUESTIONS = ("<img src=x onerror=alert(1)>", "**word** `code` [x](javascript:alert(2)) $$x$$")
CORPUS = "<b>lanterns</b>"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from tests.doubles import DemoOracleLLM
    from tests.harness import start_app

    running = start_app(tmp_path_factory.mktemp("ui-escaping") / "home", llm=DemoOracleLLM(), index_demo=False,
                        demo_corpus=False)
    yield running
    running.close()


def test_uploaded_html_and_markup_questions_show_as_text_and_run_nothing(app, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests.harness import launch_chromium

    upload = tmp_path / "lantern <keepers>.html"
    upload.write_text(NASTY_HTML, encoding="utf-8")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(app.url)
        page.get_by_role("tab", name=re.compile("Corpora")).click()
        page.locator("#corpora-new-name input, #corpora-new-name textarea").first.fill(CORPUS)
        page.locator("#corpora-create").click()
        page.locator("#corpora-info").get_by_text(CORPUS).wait_for()  # the name, literally
        page.locator("#corpora-files input[type=file]").set_input_files([str(upload)])
        page.locator("#corpora-files").get_by_text("keepers").first.wait_for()
        page.locator("#corpora-ingest").click()
        page.locator("#corpora-result").get_by_text("file(s)").wait_for()
        page.locator("#corpora-docs").get_by_text("Lantern").filter(visible=True).first.click()
        doc = page.locator("#corpora-doc-text textarea")
        doc.wait_for()
        assert "<img src=x onerror=alert('as text')>" in doc.input_value()

        page.get_by_role("tab", name=re.compile("Chat")).click()
        page.locator("#chat-corpus input").fill(CORPUS)
        page.locator("#chat-corpus input").press("Enter")
        bot = page.locator("#chat-bot")
        for question in QUESTIONS:
            page.locator("#chat-question textarea").fill(question)
            page.locator("#chat-question textarea").press("Enter")
            page.wait_for_function("(q) => document.querySelector('#chat-bot').innerText.split(q).length > 2",
                                   arg=question)  # the bubble and the step that quotes it
            bot.locator("a[href*='?run=']").nth(QUESTIONS.index(question)).wait_for()
        for details in bot.locator("details").all():  # open the sources: the passage text shows too
            details.locator("summary").click()
        page.wait_for_timeout(500)
        text = bot.inner_text()
        for literal in (*QUESTIONS, "**never bold**", "<img src=x onerror=alert('as text')>",
                        "<script>alert('script as text')</script>", "[a link](javascript:alert(1))"):
            assert literal in text, literal
        assert bot.locator("[data-testid=user] strong, [data-testid=user] code").count() == 0
        assert not bot.locator("a[href^='javascript']").count()

        page.get_by_role("tab", name=re.compile("Trace viewer")).click()
        page.locator("#viewer-runs").get_by_text("**word**").filter(visible=True).first.click()
        header = page.locator("#viewer-header")
        header.get_by_text("**word**").first.wait_for()
        assert header.locator("strong", has_text="word").count() == 0 and CORPUS in header.inner_text()

        assert page.locator("img[src='x']").count() == 0
        assert dialogs == []
        browser.close()


def test_two_browsers_see_only_their_own_runs_and_a_share_link_opens_exactly_that_run(app, tmp_path: Path) -> None:
    """Two people on a shared Space: each trace viewer lists only that person's runs; a share link opens the
    one run for anyone; the demo corpus cannot be changed."""
    from playwright.sync_api import sync_playwright

    from tests.harness import launch_chromium

    app.services.ensure_demo_corpus()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        ann, bob = (browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(2))
        for page, question in ((ann, "Which comet did Ann ask about?"), (bob, "What did Bob ask?")):
            page.set_default_timeout(TIMEOUT)
            page.goto(app.url)
            page.wait_for_timeout(1000)  # a person takes longer to type; the page's load resolves the user key
            page.locator("#chat-corpus input").fill("demo")
            page.locator("#chat-corpus input").press("Enter")
            page.locator("#chat-question textarea").fill(question)
            page.locator("#chat-question textarea").press("Enter")
            page.locator("#chat-bot a[href*='?run=']").last.wait_for()
        link = ann.locator("#chat-bot a[href*='?run=']").last.get_attribute("href") or ""
        run_id = link.split("run=")[-1]
        assert len(run_id) == 32  # 128 random bits: not guessed
        for page, mine, theirs in ((ann, "Ann", "Bob"), (bob, "Bob", "Ann")):
            page.get_by_role("tab", name=re.compile("Trace viewer")).click()
            table = page.locator("#viewer-runs")
            table.get_by_text(mine).filter(visible=True).first.wait_for()
            assert theirs not in table.inner_text()
        bob.goto(app.url + link.lstrip("/").lstrip("./"))  # Bob opens Ann's share link
        bob.locator("#viewer-header").get_by_text("Which comet did Ann ask about?").wait_for()
        bob.get_by_role("tab", name=re.compile("Corpora")).click()
        bob.locator("#corpora-corpus input").fill("demo")
        bob.locator("#corpora-corpus input").press("Enter")
        bob.locator("#corpora-info").get_by_text("44 documents").wait_for()
        bob.locator("#corpora-delete-corpus").click()
        bob.wait_for_timeout(1500)
        assert not bob.locator("#corpora-confirm-delete-corpus").is_visible()  # the shared demo corpus stays
        note = tmp_path / "note.md"
        note.write_text("# Bob's note\n\nBob was here.", encoding="utf-8")
        bob.locator("#corpora-files input[type=file]").set_input_files([str(note)])
        bob.locator("#corpora-files [aria-label='note.md']").first.wait_for()  # the uploaded file listed
        bob.locator("#corpora-ingest").click()
        bob.locator("#corpora-result").get_by_text("read-only").wait_for()  # nor can anyone add to it
        assert "demo" in [c.name for c in app.services.db.list_corpora()]
        owners = {r["owner"] for r in app.services.db.list_runs()}
        assert len(owners) >= 2 and all(o.startswith("browser-") for o in owners)
        browser.close()
