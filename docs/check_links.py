"""Check the relative links of README.md, docs/**/*.md and benchmarks/*.md: each names a file (or folder) that
exists, and a `#anchor` into a markdown file names one of its headings. Exits 1 and lists what is broken."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, ...


def default_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md")), *sorted((root / "benchmarks").glob("*.md"))]


def _prose(text: str) -> Iterable[tuple[int, str]]:
    """Lines outside fenced code blocks, with inline code removed."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            yield number, re.sub(r"`[^`]*`", "", line)


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a markdown file (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2))
            base = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.add(base if not count else f"{base}-{count}")
    return out


def broken(files: Iterable[Path], root: Path = ROOT) -> list[str]:
    """'file:line: target (why)' for every relative link that does not resolve."""
    problems = []
    for path in files:
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        for number, line in _prose(path.read_text(encoding="utf-8")):
            for target in LINK.findall(line):
                if EXTERNAL.match(target):
                    continue
                file_part, _, anchor = target.partition("#")
                dest = (path.parent / file_part).resolve() if file_part else path
                where = f"{path.relative_to(root) if path.is_relative_to(root) else path}:{number}: {target}"
                if not dest.exists():
                    problems.append(f"{where} (no such file)")
                elif anchor and dest.suffix == ".md" and dest.is_file() and anchor not in anchors(dest):
                    problems.append(f"{where} (no such heading)")
    return problems


def main(argv: list[str] | None = None) -> int:
    files = [Path(a).resolve() for a in (argv if argv is not None else sys.argv[1:])] or default_files()
    problems = broken(files)
    for problem in problems:
        print(problem)
    print(f"{len(files)} files, {len(problems)} broken links", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
