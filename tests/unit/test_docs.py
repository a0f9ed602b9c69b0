"""The docs: a short README, generated pages that are up to date, links that resolve."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _load(relative: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_settings = _load("docs/make_settings.py")
make_results = _load("benchmarks/make_results.py")
check_links = _load("docs/check_links.py")


def test_readme_is_short_below_the_space_front_matter() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n(.*)", text, re.S)
    assert match, "the README starts with the Space's front matter"
    assert "app_file: app.py" in match.group(1) and "hf_oauth: true" in match.group(1)
    assert len(match.group(2).split()) <= 1500


def test_settings_page_is_current_and_stale_one_is_caught(tmp_path: Path) -> None:
    assert make_settings.check(), "docs/settings.md is stale: run python docs/make_settings.py"
    page = make_settings.render()
    assert "| `RAGSCOPE_CHUNK_WORDS` | `180` |" in page  # the default from_env gives
    assert "| `RAGSCOPE_DB_URL` | `sqlite:///$RAGSCOPE_HOME/ragscope.db` |" in page
    stale = tmp_path / "settings.md"
    stale.write_text(page.replace("`180`", "`200`"), encoding="utf-8")
    assert not make_settings.check(stale)
    assert make_settings.main(["--check", "--out", str(stale)]) == 1


def test_results_page_is_current() -> None:
    assert make_results.check(), "benchmarks/RESULTS.md is stale: run python benchmarks/make_results.py"


def _bench_row(i: int, f1: float, label: str | None) -> dict:
    row = {"id": f"q{i}", "em": float(f1 == 1.0), "f1": f1, "in_retrieved": f1 > 0}
    if label is not None:
        row["label"] = label
    return row


def test_results_tables_from_result_files(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    rows = [_bench_row(i, 1.0 if i < 25 else 0.0, "supported" if i % 2 else "guess") for i in range(50)]
    summary = {"n": 50, "recall@2": 0.5, "recall@5": 0.6, "em": 0.5, "f1": 0.5, "llm_calls": 2.0,
               "prompt_tokens": 900.0, "seconds": 2.0, "errors": 0}
    bench = {"questions": "q.jsonl", "agents": {"naive": summary, "old": summary},
             "per_question": {"naive": rows, "old": [{"id": "x", "em": 0.0, "f1": 0.25}]}}
    (results / "set-naive.json").write_text(json.dumps(bench))
    (results / "list.json").write_text("[1, 2, 3]")
    (results / "broken.json").write_text("{not json")
    (results / "other.json").write_text(json.dumps({"summary": {"tim": {"probes": 4, "acc": 0.75}},
                                                    "probes": [{"ok": True}] * 30, "nested": {"a": [1]}}))
    story = tmp_path / "story.md"
    story.write_text("## intro\nHello.\n## set-naive.json: A set\nHow it was run.\n## gone.json: Old\nx\n")
    page = make_results.render(results, story, tmp_path / "no-notebook.md")

    assert page.index("## A set") < page.index("How it was run.") < page.index("| `naive` | 50 |")
    assert "| `naive` | 1.000 (25) | 0.000 (25) |" in page  # rows 1-25 all right, 26-50 all wrong
    assert "| `old` | 0.250 (1) | — |" in page
    # 25 odd rows labelled supported: 12 of them among rows 0-24 (F1 1), 13 among 25-49 (F1 0)
    assert "| `naive` | supported | 12/25 | 48% | 12 |" in page
    assert "| `naive` | guess | 13/25 | 52% | 13 |" in page
    assert "## How the labels are chosen\n\n[docs/labels.md](../docs/labels.md)" in page
    assert "Not readable as JSON" in page and "A JSON list (3 items)." in page
    assert "- probes: 30 rows (ok)" in page and "| tim | 4 | 0.75 |" in page
    assert "- `gone.json`" in page  # a story section whose file is gone is listed, not dropped
    assert make_results.check(tmp_path / "missing.md", results=results, story=story) is False


def test_links_resolve_and_a_broken_one_is_reported(tmp_path: Path) -> None:
    assert check_links.broken(check_links.default_files()) == []
    (tmp_path / "there.md").write_text("# Title here\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md) [ok](there.md#title-here) [web](https://example.org)\n"
                    "`[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n"
                    "[gone](nowhere.md) [bad anchor](there.md#nope)\n")
    problems = check_links.broken([page], tmp_path)
    assert problems == ["page.md:6: nowhere.md (no such file)", "page.md:6: there.md#nope (no such heading)"]
