"""The command line of a generated page (docs/settings.md, benchmarks/RESULTS.md): write it, or with --check
write nothing and exit 1 when the file on disk is stale."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def run(argv: Sequence[str] | None, description: str, out: Path, render: Callable[[], str],
        check: Callable[[Path], bool], command: str) -> int:
    """Parse `--check` and `--out`, then check or write the page `render()` makes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--check", action="store_true", help=f"exit 1 when {out.name} is stale; write nothing")
    p.add_argument("--out", type=Path, default=out)
    args = p.parse_args(argv)
    if args.check:
        if check(args.out):
            return 0
        print(f"{args.out} is stale: run {command}", file=sys.stderr)
        return 1
    args.out.write_text(render(), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0
