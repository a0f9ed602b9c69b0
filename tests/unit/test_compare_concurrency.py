"""Compare runs its agents at once: every column streams while the others run."""

from __future__ import annotations

from tests.unit.test_bench_concurrency import SlowOracle


def test_compare_agents_run_at_once_and_each_streams(services_factory, toy_docs) -> None:
    from ui.compare import stream_runs

    llm = SlowOracle()
    svc = services_factory(llm=llm)
    svc.ingest_documents("toy", toy_docs)
    updates = list(stream_runs(svc, ["naive", "iter_retgen", "nope"], "toy", "Where was the Orvane Guild founded?"))
    assert llm.most >= 2  # two agents were calling the LLM at the same time
    kinds = {name: [kind for n, kind, _ in updates if n == name] for name in ("naive", "iter_retgen", "nope")}
    assert kinds["naive"][-1] == "done" and "event" in kinds["naive"]
    assert kinds["iter_retgen"][-1] == "done" and kinds["iter_retgen"].count("event") >= 2
    assert kinds["nope"] == ["error"]  # an unknown agent is reported in its own column, the others still run
    first_done = next(i for i, (_, kind, _) in enumerate(updates) if kind == "done")
    assert {n for n, kind, _ in updates[:first_done] if kind == "event"} == {"naive", "iter_retgen"}
    runs = {n: payload for n, kind, payload in updates if kind == "done"}
    assert runs["naive"].answer == "Tallow"
