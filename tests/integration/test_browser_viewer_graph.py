"""The trace viewer draws HippoRAG's graph walk as the chat does (issue 13): an inline SVG whose nodes say
their name, score and passages on hover, instead of a static picture. Real chromium (playwright), a HippoRAG
run on the demo corpus with the demo oracle LLM. Screenshots go to artifacts/screenshots/viewer-graph-*.png.
"""

from __future__ import annotations

import re

import pytest

from tests.harness import shot

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from tests.harness import start_app

    running = start_app(tmp_path_factory.mktemp("ui-viewer-graph") / "home", single_user=True)
    yield running
    running.close()


def test_viewer_shows_the_graph_walk_as_an_svg_whose_nodes_name_themselves_on_hover(app, page) -> None:
    from ui.markdown import as_event

    run = app.services.run("hipporag", "demo", "Which comet was first sighted at Carrowdene Observatory?")
    list(run)
    events = [as_event(e) for e in app.services.db.get_run(run.run_id)["events"]]
    walk = next(i for i, e in enumerate(events, 1) if (e.data or {}).get("subgraph", {}).get("nodes"))
    page.goto(f"{app.url}?run={run.run_id}")
    page.locator("#viewer-step-header").get_by_text(f"Step 1 of {len(events)}").wait_for()
    page.locator("#viewer-timeline label").nth(walk - 1).click()  # open the graph-walk step
    page.locator("#viewer-step-header").get_by_text(f"Step {walk} of {len(events)}").wait_for()
    picture = page.locator("#viewer-graph svg.graph-walk")
    picture.wait_for()
    assert not page.locator("#viewer-figure img").is_visible()  # the SVG replaces the static picture
    nodes = picture.locator("g.graph-node")
    kinds = {g.get_attribute("class") for g in nodes.all()}
    assert any("node-seed" in k for k in kinds) and any("node-passage" in k for k in kinds), kinds
    stored = events[walk - 1].data["subgraph"]["nodes"]
    names = {(n.get("label") or n["id"]).casefold() for n in stored}
    seed = picture.locator("g.graph-node.node-seed").first  # one node per entity: a seed may be its passage too
    seed.scroll_into_view_if_needed()
    seed.hover()  # the browser shows the node's <title> as its tooltip
    tip = seed.locator("title").text_content() or ""
    m = re.search(r"^(.+) — (passage, )?seed entity \(where the walk starts\), score (\d\.\d{3})\n"
                  r"(Passages|Mentions): .+", tip)
    assert m and m.group(1).casefold() in names, tip
    merged = [float(n["score"]) for n in stored if (n.get("label") or n["id"]).casefold() == m.group(1).casefold()]
    assert f"{max(merged):.3f}" == m.group(3)  # the best score stored with the run among the entity's nodes
    passage_tips = [t.text_content() or "" for t in picture.locator("g.graph-node.node-passage title").all()]
    assert passage_tips and all(re.search(r" — passage(, seed entity \(where the walk starts\))?, score \d\.\d{3}", t)
                                for t in passage_tips), passage_tips
    box = picture.bounding_box()
    assert box and box["width"] > 300 and box["x"] + box["width"] <= 1400, box  # drawn, inside a 1400 px window
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1400
    shot(page, "viewer-graph")
    # another step without a graph brings back nothing of the SVG
    other = next(i for i, e in enumerate(events, 1) if not (e.data or {}).get("subgraph"))
    page.locator("#viewer-timeline label").nth(other - 1).click()
    page.locator("#viewer-step-header").get_by_text(f"Step {other} of {len(events)}").wait_for()
    page.locator("#viewer-graph svg.graph-walk").wait_for(state="detached")
