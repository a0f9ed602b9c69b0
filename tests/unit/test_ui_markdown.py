"""Text helpers, and the rule that the UI's event adapters stay pure (no gradio import)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ui import details, figures, markdown, messages


def test_short_and_cell_keep_one_safe_line() -> None:
    assert markdown.short("a  b\nc") == "a b c"
    assert markdown.short("word " * 50, 10) == "word word…"
    assert markdown.cell("x | <y>") == "x &#124; &#60;y&#62;"
    assert markdown.cell(0.12345) == "0.123"
    assert markdown.table([]) == "_(none)_"


@pytest.mark.parametrize("module", [markdown, messages, details, figures], ids=lambda m: m.__name__)
def test_event_adapters_do_not_import_gradio(module) -> None:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "gradio" not in imported


def test_plain_leaves_no_markup_and_reads_back_exactly() -> None:
    import html

    from hypothesis import given, settings
    from hypothesis import strategies as st

    nasty = "**word** <img src=x onerror=alert(1)> `code` [a](javascript:x) # h\n1. item $$x$$ http://e.com a@b.c"
    shown = markdown.plain(nasty)
    assert not any(c in shown for c in "*<>`[]()$") and "http://" not in shown and "\n1" in shown

    @settings(max_examples=200, database=None)
    @given(st.text())
    def reads_back(text: str) -> None:
        assert html.unescape(markdown.plain(text)) == text

    reads_back()
