"""Write benchmarks/RESULTS.md from the stored results (benchmarks/results/*.json) and benchmarks/results_story.md.

Per `python app.py bench --json` file: the summary per agent, how often each answer label was right, and F1 on
questions 1-25 against 26-50 (thresholds are tuned on the first and confirmed on the second). Files of other
shapes get a generic rendering. `--check` exits 1 when RESULTS.md differs from what this would write.

The story file holds the hand-written text: a section `## intro`, a section `## earlier`, and one section per
result file, `## NAME.json: Title` (the title becomes the heading).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
STORY = ROOT / "benchmarks" / "results_story.md"
OUT = ROOT / "benchmarks" / "RESULTS.md"
NOTEBOOK = ROOT / "docs" / "notebook.md"
HALF = 25  # questions 1-25 tune, 26-50 confirm

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evaluation.bench import LABELS, RIGHT_F1, label_table  # noqa: E402


def story_sections(text: str) -> dict[str, tuple[str, str]]:
    """`## key: title` sections of the story -> {key: (title, body)}."""
    out: dict[str, tuple[str, str]] = {}
    key, title, body = "", "", []  # type: ignore[var-annotated]
    for line in text.splitlines():
        if line.startswith("## "):
            if key:
                out[key] = (title, "\n".join(body).strip())
            key, _, title = line[3:].strip().partition(": ")
            body = []
        elif key:
            body.append(line)
    if key:
        out[key] = (title, "\n".join(body).strip())
    return out


def is_bench(result: Any) -> bool:
    """A `bench --json` result of multi-hop questions: per-agent summaries with F1, and per-question rows."""
    if not isinstance(result, dict):
        return False
    agents, rows = result.get("agents"), result.get("per_question")
    return (isinstance(agents, dict) and isinstance(rows, dict) and bool(agents)
            and all(isinstance(s, dict) and "f1" in s for s in agents.values())
            and all(isinstance(r, list) for r in rows.values()))


def _num(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _cell(value)


def _cell(value: Any, limit: int = 80) -> str:
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(result: dict[str, Any]) -> str:
    """One row per agent: the means `bench` stored."""
    header = ["agent", "n", "recall@2", "recall@5", "EM", "F1", "LLM calls", "prompt tokens", "s/question", "errors"]
    rows = []
    for agent, s in result["agents"].items():
        rows.append([f"`{agent}`", _num(s.get("n")), _num(s.get("recall@2")), _num(s.get("recall@5")),
                     _num(s.get("em")), _num(s.get("f1")), _num(s.get("llm_calls"), 1),
                     _num(s.get("prompt_tokens"), 0), _num(s.get("seconds"), 1), _num(s.get("errors"))])
    return _table(header, rows)


def _percent(right: int, n: int) -> str:
    return f"{100 * right / n:.0f}%" if n else "—"


def labels_table(result: dict[str, Any]) -> str:
    """Per agent and label: answers right of answers so labelled, recomputed from the rows."""
    rows, measured = [], False
    shown_col = any("in_retrieved" in r for rs in result["per_question"].values() for r in rs)
    for agent, agent_rows in result["per_question"].items():
        if not agent_rows or "label" not in agent_rows[0]:
            continue
        measured = True
        for label, cell in label_table(agent_rows).items():
            if not cell["n"] and label in LABELS:
                continue
            row = [f"`{agent}`", label or "(none)", f"{cell['right']}/{cell['n']}", _percent(cell["right"], cell["n"])]
            if shown_col:
                mine = [r for r in agent_rows if str(r.get("label", "")) == label]
                row.append(str(sum(bool(r.get("in_retrieved")) for r in mine)))
            rows.append(row)
    if not measured:
        return "No labels: these rows were written before `bench` recorded each answer's label."
    header = ["agent", "label", "right/n", "% right"]
    if shown_col:
        header.append("answer stands in a passage shown")
    return (f"Right = exact match, or token F1 ≥ {RIGHT_F1}.\n\n" + _table(header, rows))


def _mean_f1(rows: list[dict[str, Any]]) -> str:
    return f"{sum(float(r.get('f1', 0.0)) for r in rows) / len(rows):.3f} ({len(rows)})" if rows else "—"


def halves_table(result: dict[str, Any]) -> str:
    """Per agent: mean F1 on questions 1-25 and 26-50 (file order), with how many questions each holds."""
    longest = max((len(rs) for rs in result["per_question"].values()), default=0)
    header = ["agent", f"F1, questions 1–{HALF}", f"F1, questions {HALF + 1}–{2 * HALF}"]
    if longest > 2 * HALF:
        header.append(f"F1, questions {2 * HALF + 1}–{longest}")
    rows = []
    for agent, agent_rows in result["per_question"].items():
        row = [f"`{agent}`", _mean_f1(agent_rows[:HALF]), _mean_f1(agent_rows[HALF: 2 * HALF])]
        if longest > 2 * HALF:
            row.append(_mean_f1(agent_rows[2 * HALF:]))
        rows.append(row)
    return "(n) = questions in the half.\n\n" + _table(header, rows)


def _about(result: dict[str, Any]) -> str:
    parts = []
    for key, name in (("questions", "questions"), ("llm", "model"), ("config", "settings"),
                      ("concurrency", "at once")):
        value = result.get(key)
        if value not in (None, "", {}):
            text = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
            parts.append(f"{name}: `{_cell(text, 120)}`")
    return "; ".join(parts) + "." if parts else ""


def render_bench(result: dict[str, Any]) -> str:
    blocks = [_about(result), summary_table(result), "How often each label was right:", labels_table(result),
              "F1 by half:", halves_table(result)]
    return "\n\n".join(b for b in blocks if b)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if _scalar(value):
        return _num(value)
    if isinstance(value, list) and all(_scalar(v) for v in value) and len(value) <= 6:
        return _cell(", ".join(_short(v) for v in value))
    if isinstance(value, list):
        return f"{len(value)} values"
    if isinstance(value, dict):
        return f"{len(value)} fields"
    return _cell(value)


def _records(items: list[tuple[str, dict[str, Any]]]) -> str:
    columns: list[str] = []
    for _, record in items:
        columns += [k for k, v in record.items() if k not in columns and (_scalar(v) or isinstance(v, list))]
    if len(columns) > 8 and len(items) <= 4:  # few wide records read better as one column each
        return _table(["", *(_cell(name) for name, _ in items)],
                      [[_cell(c), *(_short(record.get(c, "")) for _, record in items)] for c in columns])
    rows = [[_cell(name), *(_short(record.get(c, "")) for c in columns)] for name, record in items]
    return _table(["", *(_cell(c) for c in columns)], rows)


def render_generic(result: Any) -> str:
    """What a file of another shape holds: its scalars, small tables of its records, the size of the rest."""
    if not isinstance(result, dict):
        return f"A JSON {type(result).__name__} ({len(result) if isinstance(result, list | str) else 1} items)."
    lines, tables = [], []
    for key, value in result.items():
        if _scalar(value):
            lines.append(f"- {_cell(key)}: `{_short(value)}`")
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            tables.append(f"{_cell(key)}:\n\n" + _records([(str(k), v) for k, v in value.items()]))
        elif isinstance(value, list) and value and len(value) <= 12 and all(isinstance(v, dict) for v in value):
            tables.append(f"{_cell(key)}:\n\n" + _records([(str(i + 1), v) for i, v in enumerate(value)]))
        elif isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            lines.append(f"- {_cell(key)}: " + ", ".join(f"{_cell(k)} {len(v)} rows" for k, v in value.items()))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            fields = ", ".join(dict.fromkeys(k for v in value for k in v))
            lines.append(f"- {_cell(key)}: {len(value)} rows ({_cell(fields, 120)})")
        else:
            lines.append(f"- {_cell(key)}: {_short(value)}")
    return "\n\n".join(b for b in ("\n".join(lines), *tables) if b)


def slug(heading: str, seen: dict[str, int]) -> str:
    """The anchor GitHub gives a heading (duplicates get -1, -2, ...)."""
    base = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if not count else f"{base}-{count}"


def notebook_index(notebook: Path) -> str:
    """Links to the notebook's sections (level 2 and 3), outside code blocks."""
    if not notebook.is_file():
        return ""
    seen: dict[str, int] = {}
    out, fenced = [], False
    rel = Path("..") / notebook.relative_to(ROOT) if notebook.is_relative_to(ROOT) else notebook
    for line in notebook.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else re.match(r"(#{1,6}) (.*)", line)
        if not match:
            continue
        anchor = slug(match.group(2), seen)
        if len(match.group(1)) in (2, 3):
            indent = "  " * (len(match.group(1)) - 2)
            out.append(f"{indent}- [{match.group(2).replace('`', '')}]({rel.as_posix()}#{anchor})")
    return "\n".join(out)


def _load(path: Path) -> tuple[Any, str]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), ""
    except (OSError, ValueError) as exc:
        return None, f"Not readable as JSON ({_cell(exc, 120)})."


def render(results: Path = RESULTS, story: Path = STORY, notebook: Path = NOTEBOOK) -> str:
    """The whole of RESULTS.md."""
    sections = story_sections(story.read_text(encoding="utf-8")) if story.is_file() else {}
    out = ["# Measured results", "",
           "<!-- generated by benchmarks/make_results.py from benchmarks/results/*.json and "
           "benchmarks/results_story.md; edit those, then run it -->"]
    if "intro" in sections:
        out += ["", sections["intro"][1]]
    out += ["", "## How the labels are chosen", "", "[docs/labels.md](../docs/labels.md)"]
    paths = sorted(results.glob("*.json")) if results.is_dir() else []
    loaded = [(p, *_load(p)) for p in paths]
    for wanted in (True, False):
        for path, result, error in loaded:
            if is_bench(result) != wanted:
                continue
            title, body = sections.get(path.name, ("", ""))
            out += ["", f"## {title or path.stem}", "", f"From `benchmarks/results/{path.name}`."]
            if body:
                out += ["", body]
            try:
                rendered = error or (render_bench(result) if wanted else render_generic(result))
            except Exception as exc:  # a file of an unforeseen shape is listed, never fatal
                rendered = f"Could not be rendered ({type(exc).__name__}: {_cell(exc, 120)})."
            out += ["", rendered]
    unused = sorted(set(sections) - {"intro", "earlier"} - {p.name for p in paths})
    if unused:
        out += ["", "## Story sections without a result file", "", *(f"- `{name}`" for name in unused)]
    index = notebook_index(notebook)
    if "earlier" in sections or index:
        out += ["", "## Earlier measurements"]
        if "earlier" in sections:
            out += ["", sections["earlier"][1]]
        if index:
            out += ["", index]
    return "\n".join(out).rstrip() + "\n"


def check(path: Path = OUT, **kwargs: Path) -> bool:
    """True when `path` holds exactly what render() writes."""
    return path.is_file() and path.read_text(encoding="utf-8") == render(**kwargs)


def main(argv: list[str] | None = None) -> int:
    from docs.generated import run

    return run(argv, __doc__.splitlines()[0], OUT, render, check, "python benchmarks/make_results.py")


if __name__ == "__main__":
    sys.exit(main())
