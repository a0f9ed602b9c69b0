"""Corpora tab: create corpora, upload and index files, browse, open and delete documents."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from storage.models import PUBLIC
from ui.common import DEFAULT_CORPUS, corpus_names, default_corpus
from ui.markdown import plain
from ui.users import user_key

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
DOC_COLUMNS = ["document", "file", "passages", "characters"]  # no id: a click on a row opens the document
FILE_TYPES = [".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".jsonl"]


@dataclass
class CorporaTab:
    """The corpus dropdown and the events after which every corpus dropdown must refresh."""

    corpus: gr.Dropdown
    changes: list[Any] = field(default_factory=list)


READ_ONLY = ("{name} is shared by everyone and read-only: create your own corpus (below) to add or delete "
             "files.")


def read_only(services: Services, name: str | None, owner: str) -> bool:
    """Whether this owner may not change the corpus: a shared one (the demo corpus, unless single-user)."""
    return bool(name) and not services.can_change(name, owner)


def read_only_note(name: str) -> str:
    """The warning for a change to a shared corpus, naming it as text."""
    return READ_ONLY.format(name=f"Corpus '{name}'")


def corpus_info(services: Services, name: str | None, owner: str = PUBLIC) -> str:
    """'**demo** · 42 documents · 42 passages · shared, read-only · embedder …', as `owner` sees it."""
    if not name:
        return "_No corpus yet: create one below._"
    for c in services.corpus_list(owner):
        if c.name == name:
            whose = "yours" if c.owner == owner else "shared, read-only"
            return (f"**{plain(c.name)}** · {c.documents} documents · {c.chunks} passages · {whose}"
                    f"<br><small>embedder `{c.embedder or '?'}`</small>")
    if name == DEFAULT_CORPUS:
        return f"**{plain(name)}** · {services.demo_state} (indexed in the background)"
    return f"**{plain(name)}** · not found"


def documents_frame(services: Services, corpus: str | None, search: str = "", owner: str = PUBLIC) -> pd.DataFrame:
    """A corpus's documents as `owner` sees them, newest first (empty when it has no such corpus)."""
    rows: list[list[Any]] = []
    if corpus:
        try:
            found = services.documents(corpus, owner, search or "")
        except LookupError:
            found = []
        rows = [[d.title, Path(d.source).name if d.source else "", d.chunks, d.chars] for d in found]
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


def build(services: Services, user: gr.components.Component | None = None) -> CorporaTab:
    """Lay out the Corpora tab and wire its events; `user` holds the browser's id (ui/users.py): the tab
    lists that user's corpora and the shared ones, and changes only the user's own."""
    user = user if user is not None else gr.State("")
    names = corpus_names(services)
    first = default_corpus(names)
    anyone = services.owner("") if services.settings.single_user else ""  # before the page load: a visitor
    selected_doc = gr.State("")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            corpus = gr.Dropdown(choices=names, value=first, label="Corpus", elem_id="corpora-corpus",
                                 allow_custom_value=True)
            # callables: read on every page load, not once at build time (the demo indexes in the background)
            info = gr.Markdown(lambda: corpus_info(services, first, anyone), elem_id="corpora-info")
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
    docs = gr.Dataframe(value=lambda: documents_frame(services, first, "", anyone), interactive=False, max_height=300,
                        elem_id="corpora-docs", elem_classes=["compact-table"], label="Documents (click one to open)",
                        column_widths=["46%", "34%", "10%", "10%"])
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

    def owner_of(stored: str, request: gr.Request | None) -> str:
        return services.owner(user_key(stored, request))

    def show_corpus(name: str | None, search_text: str, stored: str, request: gr.Request) -> tuple[Any, ...]:
        owner = owner_of(stored, request)
        return (corpus_info(services, name, owner), documents_frame(services, name, search_text, owner),
                gr.Group(visible=False))

    # while the demo corpus indexes in the background, poll; once it is ready show its documents and stop
    demo_pending = getattr(services.settings, "demo_corpus", False) and services.demo_state != "ready"
    poll = gr.Timer(2.0, active=bool(demo_pending))

    def poll_demo(name: str | None, stored: str, request: gr.Request) -> tuple[Any, ...]:
        if services.demo_state != "ready":
            return gr.skip(), gr.skip(), gr.skip()
        owner = owner_of(stored, request)
        return corpus_info(services, name, owner), documents_frame(services, name, "", owner), gr.Timer(active=False)

    poll.tick(poll_demo, [corpus, user], [info, docs, poll], api_visibility="private", show_progress="hidden")

    def on_corpus(name: str | None, stored: str, request: gr.Request) -> tuple[Any, ...]:
        return (*show_corpus(name, "", stored, request), gr.Group(visible=False))

    corpus.change(on_corpus, [corpus, user], [info, docs, doc_box, confirm_corpus], api_visibility="private")
    search.submit(show_corpus, [corpus, search, user], [info, docs, doc_box], api_visibility="private")
    search_btn.click(show_corpus, [corpus, search, user], [info, docs, doc_box], api_visibility="private")

    def create(name: str, stored: str, request: gr.Request) -> tuple[Any, ...]:
        name = (name or "").strip()
        if not name:
            gr.Warning("Type a name for the new corpus.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        owner = owner_of(stored, request)
        try:
            services.create_corpus(name, owner)
        except ValueError as exc:  # too long, or the name of a shared corpus
            gr.Warning(html.escape(str(exc)))  # toasts render HTML
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        gr.Info(html.escape(f"Corpus {name!r} is ready: drop files to index them."))
        return (gr.Dropdown(choices=corpus_names(services, user_key(stored, request)), value=name), "",
                corpus_info(services, name, owner), documents_frame(services, name, "", owner))

    create_ev = create_btn.click(create, [new_name, user], [corpus, new_name, info, docs], api_visibility="private")
    create_ev2 = new_name.submit(create, [new_name, user], [corpus, new_name, info, docs], api_visibility="private")

    def ingest(name: str | None, paths: list[str] | None, stored: str | None = None, request: gr.Request = None,  # type: ignore[assignment]
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not name:
            gr.Warning("Choose or create a corpus first.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if not paths:
            gr.Warning("Drop one or more files first.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        owner = owner_of(stored, request)
        if read_only(services, name, owner):
            gr.Warning(html.escape(read_only_note(name)))
            return f"⚠️ {plain(read_only_note(name))}", gr.skip(), gr.skip(), gr.skip()
        files_ = [Path(p) for p in paths]
        progress(0, desc=f"reading {len(files_)} file(s)…")

        def step(done: int, total: int, message: str) -> None:
            progress((done, max(total, 1)), desc=message, unit="documents")

        try:
            report = services.ingest(name, files_, step, owner=owner)
        except ValueError as exc:  # a limit, or a shared corpus: the message says what to do
            gr.Warning(html.escape(str(exc)))
            return f"⚠️ {plain(exc)}", gr.skip(), gr.skip(), gr.skip()
        except Exception as exc:  # noqa: BLE001 - e.g. the embedder failed to load; say so, keep serving
            log.exception("ingest failed")
            gr.Warning(html.escape(f"Indexing failed: {exc}"))
            return f"❌ Indexing failed: {plain(exc)}", gr.skip(), gr.skip(), gr.skip()
        if report.errors:
            gr.Warning(f"{len(report.errors)} file(s) could not be indexed; see the list.")
        return (report_markdown(report, len(files_)), corpus_info(services, name, owner),
                documents_frame(services, name, "", owner), None)

    ingest_ev = ingest_btn.click(ingest, [corpus, files, user], [result, info, docs, files], api_name="ingest")

    def open_doc(evt: gr.SelectData, frame: pd.DataFrame, name: str, stored: str,
                 request: gr.Request) -> tuple[Any, ...]:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        values = list(evt.row_value if getattr(evt, "row_value", None) else frame.iloc[row].tolist())
        owner = owner_of(stored, request)
        try:  # the row names the document by its title and file; the table shows no ids
            doc_id = next(d.doc_id for d in services.documents(name, owner)
                          if [d.title, Path(d.source).name if d.source else ""] == [str(v) for v in values[:2]])
            title, text, source = services.document(name, doc_id, owner)
        except (LookupError, StopIteration):
            gr.Warning("That document is no longer in the corpus.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        label = f"{title} · {Path(source).name if source else ''}"
        return doc_id, gr.Textbox(value=text, label=label), gr.Group(visible=True), gr.Row(visible=False)

    docs.select(open_doc, [docs, corpus, user], [selected_doc, doc_text, doc_box, confirm_doc],
                api_visibility="private")
    close_doc_btn.click(lambda: ("", gr.Group(visible=False)), None, [selected_doc, doc_box], queue=False,
                        api_visibility="private")

    def ask_delete_doc(name: str | None, stored: str, request: gr.Request) -> Any:
        if read_only(services, name, owner_of(stored, request)):
            gr.Warning(html.escape(read_only_note(name or "")))
            return gr.skip()
        return gr.Row(visible=True)

    delete_doc_btn.click(ask_delete_doc, [corpus, user], [confirm_doc], api_visibility="private")  # queued: toasts show
    no_doc.click(lambda: gr.Row(visible=False), None, [confirm_doc], queue=False, api_visibility="private")

    def delete_doc(name: str, doc_id: str, search_text: str, stored: str, request: gr.Request) -> tuple[Any, ...]:
        if not doc_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        owner = owner_of(stored, request)
        try:
            n = services.delete_document(name, doc_id, owner)
        except (ValueError, LookupError) as exc:  # a shared corpus, or gone
            gr.Warning(html.escape(str(exc).strip("'\"")))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        gr.Info(f"Deleted the document ({n} passages).")
        return ("", gr.Group(visible=False), corpus_info(services, name, owner),
                documents_frame(services, name, search_text, owner))

    del_doc_ev = yes_doc.click(delete_doc, [corpus, selected_doc, search, user], [selected_doc, doc_box, info, docs],
                               api_visibility="private")

    def ask_delete_corpus(name: str | None, stored: str, request: gr.Request) -> tuple[Any, ...]:
        if not name:
            gr.Warning("No corpus selected.")
            return gr.skip(), gr.skip()
        owner = owner_of(stored, request)
        if read_only(services, name, owner):
            gr.Warning(html.escape(read_only_note(name)))
            return gr.skip(), gr.skip()
        if name not in services.corpus_names(owner):  # another user's corpus is as if it did not exist
            gr.Warning(html.escape(f"There is no corpus {name!r} to delete."))
            return gr.skip(), gr.skip()
        return (f"Delete corpus **{plain(name)}** with all its documents and vectors? This cannot be undone"
                + (" (the demo corpus is re-indexed when next asked)." if name == DEFAULT_CORPUS else ".")), \
            gr.Group(visible=True)

    # queued (not queue=False): only a queued event's warnings reach the page
    delete_corpus_btn.click(ask_delete_corpus, [corpus, user], [confirm_corpus_md, confirm_corpus],
                            api_visibility="private")
    no_corpus.click(lambda: gr.Group(visible=False), None, [confirm_corpus], queue=False, api_visibility="private")

    def delete_corpus(name: str | None, stored: str, request: gr.Request) -> tuple[Any, ...]:
        if not name:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        owner = owner_of(stored, request)
        try:
            services.delete_corpus(name, owner)
        except (ValueError, LookupError) as exc:  # a shared corpus, or another user's (as if it did not exist)
            gr.Warning(html.escape(str(exc).strip("'\"")))
            return gr.skip(), gr.Group(visible=False), gr.skip(), gr.skip()
        gr.Info(html.escape(f"Deleted corpus {name!r}."))
        left = [n for n in corpus_names(services, user_key(stored, request)) if n != name]
        now = default_corpus(left)
        return gr.Dropdown(choices=left, value=now), gr.Group(visible=False), corpus_info(services, now, owner), \
            documents_frame(services, now, "", owner)

    del_corpus_ev = yes_corpus.click(delete_corpus, [corpus, user], [corpus, confirm_corpus, info, docs],
                                     api_visibility="private")
    return CorporaTab(corpus=corpus, changes=[create_ev, create_ev2, ingest_ev, del_doc_ev, del_corpus_ev])
