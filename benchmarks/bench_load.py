"""Load: N gradio_client sessions asking at once, with the real app and the real default model.

    python benchmarks/bench_load.py                          # 1, 4 and 8 sessions, 2 rounds each
    python benchmarks/bench_load.py --sessions 1,4,8 --rounds 2 --agent naive --json results/load.json

Starts `python app.py` in a subprocess on a fresh RAGSCOPE_HOME (the demo corpus is indexed there; the
converted model comes from RAGSCOPE_MODEL_CACHE), asks one question first so the model is loaded, then for
each level N runs `rounds` rounds in which N new sessions (one gradio_client Client each, like N browsers)
ask a short demo question at the same moment through the Chat API (/ask). For every question it records,
from the moment it was submitted:
- shown: the first streamed update (the question in the chat, with "starting…" or its place in line);
- first step: the first update holding a trace step (the retrieval);
- answer: the finished chat (the answer with its share link).
It prints p50/p95 of each per level, and checks what the issue asks: every answer arrives (no error, the
run stored as done), each session's chat holds only its own question, and each run is owned by its own
session's key (its stored owner lists that run alone), so each session sees only its own runs.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_ui import wait_http  # noqa: E402
from tests.harness import free_port, message_text  # noqa: E402

QUESTIONS = [  # short demo questions (data/demo/questions.jsonl and the README)
    "Which comet was first sighted at Carrowdene Observatory?",
    "In what year was the Guild of Tidewrights chartered?",
    "Which is the easternmost of the Quillmarch Isles?",
    "Who founded the guild whose hall is in the village of Mirrowdale?",
    "On which river stands the town that hosts the Feast of Reeds?",
    "Who designed the Saltspine Railway?",
    "What is Brannoch known for?",
    "Where is the Collegium of Duvessa?",
]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ask(url: str, question: str, agent: str, out: dict[str, Any]) -> None:
    """One new session asks one question; fills `out` with its timings and final chat."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
        t0 = time.perf_counter()
        job = client.submit(question, "demo", agent, api_name="/ask")
        for messages, _box in job:
            now = time.perf_counter() - t0
            out.setdefault("shown", now)
            if "first_step" not in out and any((m.get("metadata") or {}).get("status") == "done" for m in messages):
                out["first_step"] = now
            out["places"] = out.get("places", []) + [
                str(m["metadata"]["title"]) for m in messages
                if "in line" in str((m.get("metadata") or {}).get("title", ""))]
        out["final"] = job.result(timeout=1800)[0]
        out["answer"] = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - counted as a failure
        out["error"] = f"{type(exc).__name__}: {exc}"


def check(db: Any, question: str, result: dict[str, Any]) -> str:
    """'' when the session got its answer, sees only its own question, and owns its run alone; else why not."""
    if "error" in result:
        return result["error"]
    texts = [html.unescape(message_text(m)) for m in result["final"]]
    users = [t for m, t in zip(result["final"], texts, strict=True) if m["role"] == "user"]
    if users != [question]:
        return f"the chat holds {users}"
    if "?run=" not in texts[-1]:
        return f"no answer: {texts[-1][:200]}"
    run_id = texts[-1].split("?run=")[1][:32]
    run = db.get_run(run_id)
    if run["status"] != "done" or not run["answer"]:
        return f"run {run_id} is {run['status']}: {run['error']}"
    mine = [r["id"] for r in db.list_runs(owner=run["owner"])]
    if mine != [run_id]:
        return f"the session's key {run['owner']} lists {len(mine)} runs"
    result["owner"] = run["owner"]
    return ""


def level(url: str, db: Any, sessions: int, rounds: int, agent: str) -> dict[str, Any]:
    """`rounds` rounds of `sessions` new sessions asking at once."""
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    t0 = time.perf_counter()
    for r in range(rounds):
        batch = [{} for _ in range(sessions)]
        questions = [QUESTIONS[(r * sessions + i) % len(QUESTIONS)] for i in range(sessions)]
        threads = [threading.Thread(target=ask, args=(url, q, agent, out))
                   for q, out in zip(questions, batch, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for q, out in zip(questions, batch, strict=True):
            if why := check(db, q, out):
                failures.append(why)
        owners = [out.get("owner") for out in batch]
        if len(set(owners)) != len(owners):
            failures.append(f"sessions shared a key: {owners}")
        results += batch
    done = [x for x in results if "answer" in x]

    def stat(key: str) -> tuple[float, float]:
        values = [x[key] for x in done if key in x]
        return (round(percentile(values, 50), 2), round(percentile(values, 95), 2)) if values else (0.0, 0.0)

    return {"sessions": sessions, "questions": len(results), "answered": len(done), "failures": failures,
            "shown_p50_p95": stat("shown"), "first_step_p50_p95": stat("first_step"),
            "answer_p50_p95": stat("answer"), "waited_in_line": sum(bool(x.get("places")) for x in results),
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", default="1,4,8", help="comma-separated session counts")
    p.add_argument("--rounds", type=int, default=2, help="rounds per level (each session asks once a round)")
    p.add_argument("--agent", default="naive")
    p.add_argument("--home", type=Path, help="RAGSCOPE_HOME for the app (default: a fresh temp folder)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    from storage.db import Database

    home = args.home or Path(tempfile.mkdtemp(prefix="rs-load-"))
    port = free_port()
    env = {**os.environ, "RAGSCOPE_HOME": str(home), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1"}
    env.setdefault("RAGSCOPE_MODEL_CACHE", str(ROOT / ".ragscope" / "models"))
    log = open(home / "app.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        started = wait_http(url, 300, proc)
        t0 = time.perf_counter()
        warm: dict[str, Any] = {}
        ask(url, QUESTIONS[0], args.agent, warm)  # loads the model and indexes the demo corpus if needed
        if "error" in warm:
            raise RuntimeError(f"warm-up question failed: {warm['error']}")
        print(f"app serving after {started:.1f} s; warm-up question {time.perf_counter() - t0:.1f} s")
        db = Database(f"sqlite:///{home / 'ragscope.db'}")
        rows = [level(url, db, int(n), args.rounds, args.agent) for n in args.sessions.split(",")]
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    print(f"\nagent {args.agent}, demo corpus, {args.rounds} rounds per level (seconds from submitting)")
    print("| sessions | questions | answered | failures | shown p50 / p95 | first step p50 / p95 "
          "| answer p50 / p95 | waited in line | wall |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['sessions']} | {r['questions']} | {r['answered']} | {len(r['failures'])} "
              f"| {r['shown_p50_p95'][0]} / {r['shown_p50_p95'][1]} "
              f"| {r['first_step_p50_p95'][0]} / {r['first_step_p50_p95'][1]} "
              f"| {r['answer_p50_p95'][0]} / {r['answer_p50_p95'][1]} | {r['waited_in_line']} "
              f"| {r['wall_seconds']} s |")
    for r in rows:
        for why in r["failures"]:
            print(f"failure at {r['sessions']} sessions: {why}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
