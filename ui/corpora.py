"""Corpora tab: create corpora, upload and index files, browse, open and delete documents."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from ui.common import DEFAULT_CORPUS, corpus_names, default_corpus
from ui.markdown import plain

log = logging.getLogger(__name__)
DOC_COLUMNS = ["doc_id", "title", "source", "chunks", "chars"]
FILE_TYPES = [".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".jsonl"]


@dataclass
class CorporaTab:
    """The corpus dropdown and the events after which every corpus dropdown must refresh."""

    corpus: gr.Dropdown
    changes: list[Any] = field(default_factory=list)


READ_ONLY = "The demo corpus is shared by everyone and read-only: create your own corpus to add or delete files."


def read_only(services: Any, name: str | None) -> bool:
    """Whether the UI may not change this corpus: the shared demo corpus, unless the app is single-user."""
    return name == DEFAULT_CORPUS and not services.settings.single_user


def corpus_info(services: Any, name: str | None) -> str:
    """'**demo** · 42 documents · 42 chunks · embedder …'."""
    if not name:
        return "_No corpus yet: create one below._"
    for c in services.db.list_corpora():
        if c.name == name:
            return (f"**{plain(c.name)}** · {c.documents} documents · {c.chunks} chunks"
                    f"<br><small>embedder `{c.embedder or '?'}`</small>")
    if name == DEFAULT_CORPUS:
        return f"**{plain(name)}** · {services.demo_state} (indexed in the background)"
    return f"**{plain(name)}** · not found"


def documents_frame(services: Any, corpus: str | None, search: str = "") -> pd.DataFrame:
    """A corpus's documents, newest first (empty when the corpus does not exist yet)."""
    rows: list[list[Any]] = []
    if corpus:
        try:
            cid = services.db.corpus_id(corpus)
        except LookupError:
            cid = None
        if cid is not None:
            rows = [[d.doc_id, d.title, Path(d.source).name if d.source else "", d.chunks, d.chars]
                    for d in services.db.list_documents(cid, search=search or "")]
    return pd.DataFrame(rows, columns=DOC_COLUMNS)


def report_markdown(report: Any, files: int) -> str:
    """The ingest report for a person: one summary line (✅ only when something was indexed) and each rejected file."""
    ok = bool(getattr(report, "added", 0) or getattr(report, "skipped", 0))
    icon = "✅" if ok and not report.errors else ("⚠️" if ok else "❌")
    head = f"{files} file(s): {report.summary()}." if ok or not report.errors else \
        f"Nothing was indexed: {'the file was' if files == 1 else f'all {files} files were'} rejected."
    lines = [f"{icon} {head}"]
    if report.errors:
        lines.append("\n**Not indexed:**")
        lines += [f"- ⚠️ {plain(e)}" for e in report.errors]  # they name the files: shown as text
    return "\n".join(lines)


def build(services: Any) -> CorporaTab:
    """Lay out the Corpora tab and wire its events."""
    names = corpus_names(services)
    first = default_corpus(names)
    selected_doc = gr.State("")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            corpus = gr.Dropdown(choices=names, value=first, label="Corpus", elem_id="corpora-corpus",
                                 allow_custom_value=True)
            # callables: read on every page load, not once at build time (the demo indexes in the background)
            info = gr.Markdown(lambda: corpus_info(services, first), elem_id="corpora-info")
            with gr.Row(equal_height=True):
                new_name = gr.Textbox(placeholder="new corpus name", show_label=False, scale=3,
                                      elem_id="corpora-new-name")
                create_btn = gr.Button("Create", scale=1, min_width=80, elem_id="corpora-create")
            delete_corpus_btn = gr.Button("🗑 Delete this corpus…", variant="stop", size="sm",
                                          elem_id="corpora-delete-corpus")
            with gr.Group(visible=False) as confirm_corpus:
                confirm_corpus_md = gr.Markdown("")
                with gr.Row():
                    yes_corpus = gr.Button("Yes, delete it", variant="stop", size="sm",
                                           elem_id="corpora-confirm-delete-corpus")
                    no_corpus = gr.Button("Cancel", size="sm")
        with gr.Column(scale=2):
            files = gr.File(file_count="multiple", file_types=FILE_TYPES, label="Drop files here (.txt .md .pdf "
                            ".html .jsonl) — several at once", height=150, elem_id="corpora-files")
            ingest_btn = gr.Button("Index files into the selected corpus", variant="primary",
                                   elem_id="corpora-ingest")
            result = gr.Markdown("", elem_id="corpora-result")
    with gr.Row(equal_height=True):
        search = gr.Textbox(placeholder="Search titles and text…", show_label=False, scale=4, elem_id="corpora-search")
        search_btn = gr.Button("Search", scale=1, min_width=80)
    docs = gr.Dataframe(value=lambda: documents_frame(services, first), interactive=False, max_height=300,
                        elem_id="corpora-docs", elem_classes=["compact-table"], label="Documents (click one to open)",
                        column_widths=["14%", "36%", "30%", "10%", "10%"])
    with gr.Group(visible=False) as doc_box:
        doc_text = gr.Textbox(label="Document", lines=10, max_lines=18, interactive=False, elem_id="corpora-doc-text")
        with gr.Row():
            delete_doc_btn = gr.Button("🗑 Delete this document…", variant="stop", size="sm",
                                       elem_id="corpora-delete-doc")
            close_doc_btn = gr.Button("Close", size="sm")
        with gr.Row(visible=False) as confirm_doc:
            yes_doc = gr.Button("Yes, delete the document", variant="stop", size="sm",
                                elem_id="corpora-confirm-delete-doc")
            no_doc = gr.Button("Cancel", size="sm")

    def show_corpus(name: str | None, search_text: str = "") -> tuple[Any, ...]:
        return corpus_info(services, name), documents_frame(services, name, search_text), gr.Group(visible=False)

    # while the demo corpus indexes in the background, poll; once it is ready show its documents and stop
    demo_pending = getattr(services.settings, "demo_corpus", False) and services.demo_state != "ready"
    poll = gr.Timer(2.0, active=bool(demo_pending))

    def poll_demo(name: str | None) -> tuple[Any, ...]:
        if services.demo_state != "ready":
            return gr.skip(), gr.skip(), gr.skip()
        return corpus_info(services, name), documents_frame(services, name), gr.Timer(active=False)

    poll.tick(poll_demo, [corpus], [info, docs, poll], api_visibility="private", show_progress="hidden")
    corpus.change(lambda n: (*show_corpus(n), gr.Group(visible=False)), [corpus],
                  [info, docs, doc_box, confirm_corpus], api_visibility="private")
    search.submit(show_corpus, [corpus, search], [info, docs, doc_box], api_visibility="private")
    search_btn.click(show_corpus, [corpus, search], [info, docs, doc_box], api_visibility="private")

    def create(name: str) -> tuple[Any, ...]:
        name = (name or "").strip()
        if not name:
            gr.Warning("Type a name for the new corpus.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if len(name) > 200:
            gr.Warning("A corpus name may have at most 200 characters.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        services.db.ensure_corpus(name, embedder=getattr(services.corpora.embedder, "name", ""))
        gr.Info(html.escape(f"Corpus {name!r} is ready: drop files to index them."))  # toasts render HTML
        return gr.Dropdown(choices=corpus_names(services), value=name), "", *show_corpus(name)[:2]

    create_ev = create_btn.click(create, [new_name], [corpus, new_name, info, docs], api_visibility="private")
    create_ev2 = new_name.submit(create, [new_name], [corpus, new_name, info, docs], api_visibility="private")

    def ingest(name: str | None, paths: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not name:
            gr.Warning("Choose or create a corpus first.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if not paths:
            gr.Warning("Drop one or more files first.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if read_only(services, name):
            gr.Warning(READ_ONLY)
            return f"⚠️ {READ_ONLY}", gr.skip(), gr.skip(), gr.skip()
        files_ = [Path(p) for p in paths]
        progress(0, desc=f"reading {len(files_)} file(s)…")

        def step(done: int, total: int, message: str) -> None:
            progress((done, max(total, 1)), desc=message, unit="documents")

        try:
            report = services.ingest(name, files_, step)
        except Exception as exc:  # noqa: BLE001 - e.g. the embedder failed to load; say so, keep serving
            log.exception("ingest failed")
            gr.Warning(html.escape(f"Indexing failed: {exc}"))
            return f"❌ Indexing failed: {plain(exc)}", gr.skip(), gr.skip(), gr.skip()
        if report.errors:
            gr.Warning(f"{len(report.errors)} file(s) could not be indexed; see the list.")
        return report_markdown(report, len(files_)), corpus_info(services, name), documents_frame(services, name), None

    ingest_ev = ingest_btn.click(ingest, [corpus, files], [result, info, docs, files], api_name="ingest")

    def open_doc(evt: gr.SelectData, frame: pd.DataFrame, name: str) -> tuple[Any, ...]:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        doc_id = str(evt.row_value[0] if getattr(evt, "row_value", None) else frame.iloc[row, 0])
        try:
            title, text, source = services.db.get_document(services.db.corpus_id(name), doc_id)
        except LookupError as exc:
            gr.Warning(html.escape(str(exc)))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        label = f"{title} · {doc_id} · {Path(source).name if source else ''}"
        return doc_id, gr.Textbox(value=text, label=label), gr.Group(visible=True), gr.Row(visible=False)

    docs.select(open_doc, [docs, corpus], [selected_doc, doc_text, doc_box, confirm_doc], api_visibility="private")
    close_doc_btn.click(lambda: ("", gr.Group(visible=False)), None, [selected_doc, doc_box], queue=False,
                        api_visibility="private")
    delete_doc_btn.click(lambda: gr.Row(visible=True), None, [confirm_doc], queue=False, api_visibility="private")
    no_doc.click(lambda: gr.Row(visible=False), None, [confirm_doc], queue=False, api_visibility="private")

    def delete_doc(name: str, doc_id: str, search_text: str) -> tuple[Any, ...]:
        if not doc_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if read_only(services, name):
            gr.Warning(READ_ONLY)
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            n = services.corpora.delete_document(name, doc_id)
        except LookupError as exc:
            gr.Warning(html.escape(str(exc)))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        gr.Info(f"Deleted document {doc_id} ({n} chunks).")
        info_md, frame, _ = show_corpus(name, search_text)
        return "", gr.Group(visible=False), info_md, frame

    del_doc_ev = yes_doc.click(delete_doc, [corpus, selected_doc, search], [selected_doc, doc_box, info, docs],
                               api_visibility="private")

    def ask_delete_corpus(name: str | None) -> tuple[Any, ...]:
        if not name:
            gr.Warning("No corpus selected.")
            return gr.skip(), gr.skip()
        if read_only(services, name):
            gr.Warning(READ_ONLY)
            return gr.skip(), gr.skip()
        return (f"Delete corpus **{plain(name)}** with all its documents and vectors? This cannot be undone"
                + (" (the demo corpus is re-indexed when next asked)." if name == DEFAULT_CORPUS else ".")), \
            gr.Group(visible=True)

    delete_corpus_btn.click(ask_delete_corpus, [corpus], [confirm_corpus_md, confirm_corpus], queue=False,
                            api_visibility="private")
    no_corpus.click(lambda: gr.Group(visible=False), None, [confirm_corpus], queue=False, api_visibility="private")

    def delete_corpus(name: str | None) -> tuple[Any, ...]:
        if not name or read_only(services, name):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            services.delete_corpus(name)
        except LookupError as exc:
            gr.Warning(html.escape(str(exc)))
            return gr.skip(), gr.Group(visible=False), gr.skip(), gr.skip()
        gr.Info(html.escape(f"Deleted corpus {name!r}."))
        left = [n for n in corpus_names(services) if n != name]
        now = default_corpus(left)
        return gr.Dropdown(choices=left, value=now), gr.Group(visible=False), corpus_info(services, now), \
            documents_frame(services, now)

    del_corpus_ev = yes_corpus.click(delete_corpus, [corpus], [corpus, confirm_corpus, info, docs],
                                     api_visibility="private")
    return CorporaTab(corpus=corpus, changes=[create_ev, create_ev2, ingest_ev, del_doc_ev, del_corpus_ev])
