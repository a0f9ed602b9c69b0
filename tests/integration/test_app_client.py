"""The real app (real embedder, Chroma, SQLite; a fake LLM) driven over HTTP with gradio_client."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from tests.harness import message_text

pytestmark = pytest.mark.integration

QUESTION = "Which comet was first sighted at Carrowdene Observatory?"
GOLD_ID = "26620acf20f9"  # its supporting passage in data/demo/questions.jsonl
OTHER = "In what year was the Guild of Tidewrights chartered?"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from tests.doubles import DemoOracleLLM
    from tests.harness import start_app

    running = start_app(tmp_path_factory.mktemp("ui-client") / "home", llm=DemoOracleLLM())
    yield running
    running.close()


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app.url, verbose=False)


def test_chat_streams_steps_then_the_answer(app, client) -> None:
    job = client.submit(QUESTION, "demo", "naive", api_name="/ask")
    updates = list(job)  # every streamed update, in order
    messages, question_box = job.result()
    assert question_box == ""
    assert messages[0]["role"] == "user" and message_text(messages[0]) == QUESTION
    steps = [m for m in messages if m.get("metadata") and m["metadata"].get("title")]
    assert [s["metadata"]["title"].split(":")[0] for s in steps] == ["🔎 retrieve", "📖 read"]
    assert all(s["metadata"]["status"] == "done" for s in steps)
    assert "Carrowdene Observatory" in message_text(steps[0])  # the passage table
    answer = message_text(messages[-1])
    assert answer.startswith("**Grey Lantern**")
    assert "<details>" in answer and "★" in answer
    run_id = answer.split("?run=")[1].split(")")[0]
    stored = app.services.db.get_run(run_id)
    assert stored["status"] == "done" and stored["answer"] == "Grey Lantern"
    assert (stored["agent"], stored["corpus"], stored["question"]) == ("naive", "demo", QUESTION)
    assert GOLD_ID in stored["retrieved_ids"]  # the retriever found the supporting passage
    assert [e["kind"] for e in stored["events"]] == ["retrieve", "read"]
    assert len(updates) >= 3  # user + pending, then a step at a time: it streamed


def test_run_api_returns_answer_and_events(client) -> None:
    out = client.predict(QUESTION, "demo", "naive", {"top_k": 3}, api_name="/run")
    assert out["answer"] == "Grey Lantern" and out["error"] == ""
    assert [e["kind"] for e in out["events"]] == ["retrieve", "read"]
    hits = out["events"][0]["data"]["hits"]
    assert len(hits) == 3 and GOLD_ID in [h["doc_id"] for h in hits]  # top_k reached the agent
    assert out["share_link"] == f"?run={out['run_id']}"


def test_sessions_do_not_share_chats(app, client) -> None:
    from gradio_client import Client

    mine, _ = client.predict("In what year was the Guild of Tidewrights chartered?", "demo", "naive",
                             api_name="/ask")
    assert len(mine) > 4  # this session's earlier chat is still there
    other = Client(app.url, verbose=False)
    theirs, _ = other.predict("In what year was the Guild of Tidewrights chartered?", "demo", "naive",
                              api_name="/ask")
    assert message_text(theirs[0]) == "In what year was the Guild of Tidewrights chartered?"  # starts fresh
    assert message_text(theirs[-1]).startswith("**1712**")


def test_bad_input_is_a_message_not_a_crash(app) -> None:
    from gradio_client import Client

    client = Client(app.url, verbose=False)  # a fresh session with an empty chat
    messages, _ = client.predict("   ", "demo", "naive", api_name="/ask")
    assert messages == []
    messages, _ = client.predict(QUESTION, "no-such-corpus", "naive", api_name="/ask")
    assert "unknown corpus" in message_text(messages[-1])
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="unknown agent"):
        client.predict(QUESTION, "demo", "nope", None, api_name="/run")


def test_viewer_opens_a_stored_run(client) -> None:
    out = client.predict(QUESTION, "demo", "naive", None, api_name="/run")
    later = client.predict(OTHER, "demo", "naive", None, api_name="/run")  # the newest run is another one
    result = client.predict(f"http://x/?run={out['run_id']}", api_name="/open_run")
    run_id, header, export, step, timeline, step_md, inputs_md, outputs_md, raw, figure, graph = result
    assert run_id == out["run_id"] != later["run_id"]
    assert QUESTION in header and OTHER not in header  # the link opens exactly its run
    assert step["value"] == 1 and step["maximum"] == 2  # the slider is updated for this run
    labels = [choice[0] for choice in timeline["choices"]]  # the timeline: one clickable entry per step
    assert len(labels) == 2 and "retrieve" in labels[0] and "Step 1 of 2" in step_md
    assert "| # | passage | text | similarity to the search (0 to 1) |" in outputs_md
    assert figure is not None  # the retrieve bar chart
    assert not (graph.get("value") if isinstance(graph, dict) else graph)  # a graph walk only for HippoRAG's steps
    export = export["value"] if isinstance(export, dict) else export
    exported = json.loads(Path(export).read_text(encoding="utf-8"))
    assert exported["id"] == out["run_id"] and len(exported["events"]) == 2


def test_compare_runs_each_agent_and_scores_against_typed_gold(app, client) -> None:
    from agents import registry

    names = registry.names()
    # gold typed in the boxes overrides the known gold: a wrong answer and one passage that is not retrieved
    result = client.predict(QUESTION, "demo", ["naive"], "Blue Lantern", f"{GOLD_ID}, not-a-passage",
                            api_name="/compare")
    bots, summary, note = result[: len(names)], result[len(names)], result[len(names) + 1]
    assert message_text(bots[names.index("naive")][-1]).startswith("**Grey Lantern**")
    rows = summary["data"]
    headers = summary["headers"]
    row = dict(zip(headers, rows[0], strict=True))
    assert row["agent"] == "naive" and row["answer"] == "Grey Lantern"
    assert row["EM"] == 0.0 and row["F1"] == 0.5  # scored against the typed gold: 'lantern' is shared
    assert row["recall@2"] == 0.5 and row["recall@5"] == 0.5  # one of the two gold ids was retrieved
    assert "Done" in note


def test_ingest_reports_per_file_errors(app, client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    good = tmp_path / "harbour.md"
    good.write_text("# Harbour of Quell\n\nThe harbour of Quell freezes every winter.", encoding="utf-8")
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"not a pdf at all")
    report, info, docs, files = client.predict("client-notes", [handle_file(good), handle_file(bad)],
                                               api_name="/ingest")  # the client's own corpus, made by the upload
    report = html.unescape(report)  # file names are shown as text: escaped as character references
    assert "added 1 documents" in report and "broken.pdf" in report
    assert [r[0] for r in docs["data"]] == ["Harbour of Quell"]
    assert [c.owner for c in app.services.db.list_corpora(None) if c.name == "client-notes"] != ["public"]
    shared, *_ = client.predict("demo", [handle_file(good)], api_name="/ingest")
    assert "read-only" in html.unescape(shared) and app.services.db.list_documents(
        app.services.db.corpus_id("demo"), search="Quell") == []  # nobody adds to the demo corpus


def test_the_api_page_lists_only_the_api_with_named_typed_inputs(client) -> None:
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert not [name for name in api if name.startswith("/lambda")]  # the page's internals are not an API
    assert set(api) == {"/ask", "/run", "/compare", "/ingest", "/open_run"}
    for name in ("/ask", "/run"):
        params = {p["parameter_name"]: p["python_type"]["type"] for p in api[name]["parameters"]}
        assert list(params) == ["question", "corpus", "agent", "config"], name
        assert params["question"] == "str" and "dict" in params["config"]
    returns = api["/run"]["returns"][0]["python_type"]["type"]
    for key in ("run_id", "share_link", "answer", "error", "used_ids", "retrieved_ids", "events"):
        assert f"{key}:" in returns
    assert "top_k" in api["/run"]["description"] or "Run an agent" in api["/run"]["description"]


def test_a_bad_config_value_names_the_field_and_its_type(client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="top_k must be an integer, not 'banana'"):
        client.predict(QUESTION, "demo", "naive", {"top_k": "banana"}, api_name="/run")
    messages, _ = client.predict(QUESTION, "demo", "naive", {"top_k": 2}, api_name="/ask")
    assert message_text(messages[-1]).startswith("**Grey Lantern**")
    messages, _ = client.predict(QUESTION, "demo", "naive", {"top_k": "banana"}, api_name="/ask")
    assert "top_k must be an integer, not 'banana'" in html.unescape(message_text(messages[-1]))
