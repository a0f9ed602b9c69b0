"""No function in agents/ (outside agents/tim/, kept by its own work) is longer than 50 lines."""

from __future__ import annotations

import ast
from pathlib import Path

AGENTS = Path(__file__).parents[2] / "agents"
MAX_LINES = 50
SKIP = ("tim",)  # agents/tim/ is refactored on its own


def long_functions(root: Path = AGENTS, limit: int = MAX_LINES) -> list[str]:
    """'path:line name (n lines)' for every function or method longer than `limit` lines (decorators aside)."""
    out = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] in SKIP:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    out.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_function_in_agents_is_over_50_lines() -> None:
    assert long_functions() == []


if __name__ == "__main__":
    print("\n".join(long_functions()) or "none")
