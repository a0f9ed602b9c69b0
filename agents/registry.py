"""One registry of agents by name."""

from __future__ import annotations

import importlib

from agents.base import AgentSpec

# name -> module holding its SPEC; order is the order the UI lists them in
_MODULES = {
    "naive": "agents.naive",
    "auto_rag": "agents.auto_rag",
    "iter_retgen": "agents.iter_retgen",
    "hipporag": "agents.hipporag",
    "retro_rag": "agents.retro_rag",
    "tim": "agents.tim",
    "window": "agents.window",
    "full_history": "agents.full_history",
}


class UnknownAgent(KeyError):
    """An agent name that is not registered; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def names() -> list[str]:
    """Every registered agent name."""
    return list(_MODULES)


def get(name: str) -> AgentSpec:
    """The spec of agent `name`, or UnknownAgent listing the valid names."""
    module = _MODULES.get(name.strip().lower().replace("-", "_"))
    if module is None:
        raise UnknownAgent(f"unknown agent {name!r}; valid agents: {', '.join(_MODULES)}")
    return importlib.import_module(module).SPEC


def all_specs() -> list[AgentSpec]:
    """Specs of every agent, in registry order."""
    return [get(n) for n in _MODULES]
