"""The web app: a header and six tabs (Chat, Trace viewer, Compare, Benchmarks, Corpora, Memory) over one Services
object."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from ui import benchmarks, chat, compare, corpora, memory, users, viewer
from ui.common import corpus_names, default_corpus, status_line
from ui.style import CSS, HEADER, PAGE_JS, WITH_TIME_ZONE_JS, theme

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
TAB_CHAT, TAB_VIEWER, TAB_COMPARE, TAB_CORPORA, TAB_MEMORY = "chat", "viewer", "compare", "corpora", "memory"
TAB_BENCHMARKS = "benchmarks"


def build_app(services: Services) -> gr.Blocks:
    """Build the Blocks app; `launch(demo)` serves it."""
    with gr.Blocks(title="ragscope — watch RAG and memory agents think", fill_width=True) as demo:
        gr.HTML(HEADER, elem_id="app-header")
        if users.oauth_enabled():  # a Space with `hf_oauth: true`: signed-in visitors are keyed by their HF name
            gr.LoginButton(elem_id="hf-login")
        # this browser's random id (ui/users.py); every tab takes it as an input and resolves the user key
        user = users.user_state(users.browser_secret(services.settings.home))
        # the browser's time zone, filled in by the page load (a hidden box, not a State: the browser sends its
        # value with each event), so that times show on the reader's clock
        zone = gr.Textbox("", visible=False, elem_id="browser-time-zone")
        with gr.Tabs(selected=TAB_CHAT, elem_id="main-tabs") as tabs:
            with gr.Tab("💬 Chat", id=TAB_CHAT, elem_id="tab-chat"):
                chat_tab = chat.build(services, user)
            with gr.Tab("🔍 Trace viewer", id=TAB_VIEWER, elem_id="tab-viewer") as viewer_tab_el:
                viewer_tab = viewer.build(services, TAB_VIEWER, user, zone)
            with gr.Tab("⚖️ Compare", id=TAB_COMPARE, elem_id="tab-compare"):
                compare_tab = compare.build(services, user)
            with gr.Tab("📊 Benchmarks", id=TAB_BENCHMARKS, elem_id="tab-benchmarks") as bench_tab_el:
                bench_tab = benchmarks.build(services, user, viewer_tab, tabs, TAB_VIEWER)
            with gr.Tab("📚 Corpora", id=TAB_CORPORA, elem_id="tab-corpora"):
                corpora_tab = corpora.build(services, user)
            with gr.Tab("🧠 Memory", id=TAB_MEMORY, elem_id="tab-memory") as memory_tab_el:
                memory_tab = memory.build(services, user, zone)

        dropdowns = [chat_tab.corpus, compare_tab.corpus, corpora_tab.corpus, viewer_tab.corpus_filter]

        def refresh_corpora(chat_value: str, compare_value: str, corpora_value: str, filter_value: str,
                            stored_user: str, request: gr.Request) -> tuple[Any, ...]:
            """Every corpus dropdown offers the corpora this user may use (their own and the shared ones)."""
            names = corpus_names(services, users.user_key(stored_user, request))

            def keep(value: str) -> str | None:
                return value if value in names else default_corpus(names)

            return (gr.Dropdown(choices=names, value=keep(chat_value)),
                    gr.Dropdown(choices=names, value=keep(compare_value)),
                    gr.Dropdown(choices=names, value=keep(corpora_value)),
                    gr.Dropdown(choices=[("All corpora", "")] + [(n, n) for n in names],
                                value=filter_value if filter_value in names else ""))

        for dep in corpora_tab.changes:
            dep.then(refresh_corpora, [*dropdowns, user], dropdowns, api_visibility="private", queue=False)
        viewer_tab_el.select(viewer_tab.refresh, viewer_tab.filters, [viewer_tab.table], api_visibility="private")
        bench_tab_el.select(bench_tab.refresh, bench_tab.inputs, bench_tab.outputs, api_visibility="private")
        memory_tab_el.select(memory_tab.refresh, memory_tab.inputs, memory_tab.outputs, api_visibility="private",
                             show_progress="hidden")
        # the first visit makes this browser's random id (or finds the one an earlier event of the page made);
        # it is kept in the browser from then on
        def keep_id(stored: str, request: gr.Request) -> str:
            return users.on_load(stored, request)[0]

        demo.load(keep_id, [user], [user], api_visibility="private", queue=False)

        def on_load(chat_value: str, compare_value: str, corpora_value: str, filter_value: str, stored_id: str,
                    request: gr.Request, browser_zone: str = "") -> tuple[Any, ...]:
            """Fresh corpus lists and status; with ?run=<id> in the URL, open that run in the viewer."""
            current = refresh_corpora(chat_value, compare_value, corpora_value, filter_value, stored_id, request)
            run_id = ""
            if request is not None:
                run_id = str(dict(request.query_params).get("run", "") or "").strip()
            status = status_line(services, chat_value)
            if run_id:
                opened = viewer_tab.open_run(run_id, browser_zone)
                mine = viewer_tab.refresh("", "", "", stored_id, request, browser_zone)
                return (gr.Tabs(selected=TAB_VIEWER), *current, status, mine, *opened, browser_zone)
            return (gr.skip(), *current, status, gr.skip(), *(gr.skip() for _ in viewer_tab.open_outputs),
                    browser_zone)

        loaded = demo.load(on_load, [*dropdowns, user, zone],
                           [tabs, *dropdowns, chat_tab.status, viewer_tab.table, *viewer_tab.open_outputs, zone],
                           js=WITH_TIME_ZONE_JS, api_visibility="private", show_progress="hidden")
        # then the agent, corpus and settings this browser chose before (once the corpus lists are fresh)
        loaded.then(chat_tab.restore, chat_tab.restore_inputs, chat_tab.restore_outputs, api_visibility="private",
                    show_progress="hidden")
    hide_value_loaders(demo)
    demo.ragscope_services = services  # type: ignore[attr-defined] - launch() reads limits from it
    return demo


def hide_value_loaders(demo: gr.Blocks) -> None:
    """Keep off the API page the load events gradio makes for components whose value is a function (it publishes
    them as /lambda_N): they fill the page, they are not an API. "undocumented", not "private": the page runs its
    load events differently when they are private (a question sent during a slow load then waited for it)."""
    loaders = {c.load_event_to_attach[0] for c in demo.blocks.values()
               if isinstance(c, gr.components.Component) and c.load_event_to_attach}
    for fn in demo.fns.values():
        if fn.fn in loaders:
            fn.api_visibility = "undocumented"


def launch(demo: gr.Blocks, **overrides: Any) -> Any:
    """Serve the app. Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (gradio reads them;
    default 127.0.0.1:7860); `overrides` go to `Blocks.launch` (tests pass a port and prevent_thread_lock)."""
    services = getattr(demo, "ragscope_services", None)
    kwargs: dict[str, Any] = {
        "ssr_mode": False,
        "theme": theme(),
        "css": CSS,
        "show_error": True,
        "footer_links": ["api", "settings"],
        "js": PAGE_JS,
    }
    if services is not None:
        kwargs["max_file_size"] = int(services.max_bytes)
    kwargs.update(overrides)
    demo.queue(default_concurrency_limit=4)
    return demo.launch(**kwargs)
