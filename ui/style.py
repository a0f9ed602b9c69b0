"""The look: a Soft theme, a header, compact tables and readable step messages."""

from __future__ import annotations

import gradio as gr

HEADER = """
<div class="rs-header">
  <div class="rs-logo">🔬</div>
  <div>
    <div class="rs-title">ragscope</div>
    <div class="rs-tagline">Watch RAG and memory agents think: every search, graph walk, memory and reading
    step as it happens, with the passages behind each answer.</div>
  </div>
</div>
"""

CSS = """
/* as wide as the window up to 1500 px, never wider: a table's drawn width cannot grow the page */
.gradio-container { width: 100% !important; max-width: 1500px !important; margin: 0 auto !important; }
.rs-header { display: flex; align-items: center; gap: 14px; padding: 6px 4px 2px 4px; }
.rs-logo { font-size: 34px; line-height: 1; }
.rs-title { font-size: 26px; font-weight: 700; letter-spacing: -0.02em; color: var(--body-text-color); }
.rs-tagline { font-size: 14px; color: var(--body-text-color-subdued); }
.status-line { font-size: 13px; }
.status-line p { margin: 0; }
.agent-card { font-size: 13px; }
.compact-table table { font-size: 13px; }
/* a table block never widens the page: past its panel's width it scrolls inside (gradio sizes a wrapping table
   from its container's width when drawn, so a wider moment would otherwise stick) */
.compact-table, #memory-table { max-width: 100%; min-width: 0 !important; overflow-x: auto; }
.compact-table td, .compact-table th { padding: 4px 8px !important; }
.compact-table th, .compact-table th * { white-space: nowrap !important; }
#compare-summary th, #compare-summary th *, #memory-table th, #memory-table th * { white-space: normal !important; }
.compare-title p { margin: 0 0 2px 4px; font-size: 14px; }
.timeline { font-size: 13px; max-height: 560px; overflow-y: auto; }
.timeline ol { padding-left: 1.4em; }
.timeline .wrap { flex-direction: column; gap: 2px !important; }
.timeline label { width: 100%; cursor: pointer; padding: 3px 6px !important; }
.timeline label span { white-space: normal; overflow-wrap: anywhere; }
/* nothing in the viewer may push the page wider than the window: long cells scroll inside their box */
.gradio-container .column { min-width: 0 !important; }
.io-box, .run-header, #viewer-step-header { min-width: 0; max-width: 100%; overflow-x: auto; overflow-wrap: anywhere; }
.grounding { font-size: 13px; font-weight: 600; }
.io-box { font-size: 13px; }
.io-box pre, .io-box pre code { white-space: pre-wrap !important; overflow-wrap: anywhere; }
.io-box td, .io-box th, #chat-bot td, #chat-bot th, [id^=compare-bot] td, [id^=compare-bot] th {
  overflow-wrap: normal !important; word-break: normal !important; white-space: normal !important; }
/* a table in a step wraps its cells; one still wider than its panel scrolls inside it, never past its edge */
.io-box table, #chat-bot table, [id^=compare-bot] table, .step-table table {
  display: block; max-width: 100%; overflow-x: auto; }
#chat-bot details > summary, [id^=compare-bot] details > summary, .io-box details > summary {
  color: var(--body-text-color-subdued); font-size: 12.5px; }
.char-count { font-size: 12.5px; color: var(--body-text-color-subdued); min-height: 0; }
.char-count p { margin: 0 0 0 4px; }
.run-header h3 { margin-bottom: 4px; }
#chat-bot table, [id^=compare-bot] table { font-size: 12.5px; }
#chat-bot details, [id^=compare-bot] details { margin: 2px 0; }
#chat-bot summary, [id^=compare-bot] summary { cursor: pointer; }
footer { opacity: 0.7; }
"""


# Runs once in the page. Gradio labels each chat message for screen readers with its markdown source (escaped
# characters as "&#46;", tags as "<span class=…>"); this relabels every message with the text shown instead.
PAGE_JS = """
() => {
  const messages = '[data-testid="user"][aria-label], [data-testid="bot"][aria-label]';
  let queued = false;
  const relabel = () => {
    queued = false;
    for (const el of document.querySelectorAll(messages)) {
      const who = el.getAttribute("data-testid") === "user" ? "Your message: " : "Agent's message: ";
      const text = who + (el.innerText || "").replace(/\\s+/g, " ").trim();
      if (el.getAttribute("aria-label") !== text) el.setAttribute("aria-label", text);
    }
  };
  const later = () => { if (!queued) { queued = true; requestAnimationFrame(relabel); } };
  new MutationObserver(later).observe(document.body, {subtree: true, childList: true, characterData: true,
                                                       attributes: true, attributeFilter: ["aria-label", "open"]});
  later();
}
"""
# An event's inputs, the last one replaced by the browser's time zone (so times show on the reader's clock).
WITH_TIME_ZONE_JS = "(...args) => [...args.slice(0, -1), Intl.DateTimeFormat().resolvedOptions().timeZone || '']"


def theme() -> gr.themes.Base:
    """A soft indigo theme with system fonts (nothing fetched from the network)."""
    return gr.themes.Soft(
        primary_hue="indigo", secondary_hue="slate", neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial",
              "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    ).set(block_radius="10px", button_large_radius="8px")
