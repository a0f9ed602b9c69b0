"""The same flows on both deployments: SQLite + embedded Chroma, and PostgreSQL + a `chroma run` server.

The fixtures start a throwaway PostgreSQL (Debian's `postgresql`: initdb into a temp folder, pg_ctl on a
free local port; as the `postgres` user when run as root) and `chroma run` on a free port. Hash embedder
and a scripted LLM: what is tested is the storage, not the model.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from llm.fake import ScriptedLLM
from retrieval.embedder import HashEmbedder
from retrieval.readers import RawDocument, doc_id
from services import LimitError, Services
from settings import Settings
from storage.db import NotFound

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_tool(name: str) -> str:
    """A PostgreSQL server binary: on PATH, else in Debian's versioned folder."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), "")
    if not found:
        pytest.fail(f"PostgreSQL's {name} is missing: apt-get install postgresql (.ci/run does)")
    return found


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free port, stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="ragscope-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    run = lambda *cmd: subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(_pg_tool("initdb"), "-D", str(data), "-U", "ragscope", "--auth=trust", "-E", "UTF8", "--no-sync")
    run(_pg_tool("pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "start", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off")
    try:
        yield f"postgresql+psycopg://ragscope@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, _pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def chroma_server() -> Iterator[tuple[str, int]]:
    """`chroma run` (the CLI ships with the chromadb package) on a free port."""
    chroma = shutil.which("chroma")
    if not chroma:
        pytest.fail("the `chroma` CLI is missing: pip install chromadb")
    folder, port = Path(tempfile.mkdtemp(prefix="ragscope-chroma-")), _free_port()
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen([chroma, "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port",
                             str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite+embedded-chroma", "postgres+chroma-server"])
def deployment(request, tmp_path: Path) -> Callable[[], Services]:
    """A function that (re)starts the app's services on one deployment's stores."""
    overrides: dict[str, object] = {}
    if request.param.startswith("postgres"):
        host, port = request.getfixturevalue("chroma_server")
        overrides = {"db_url": request.getfixturevalue("postgres_url"), "chroma_host": host, "chroma_port": port}
        _reset_postgres(str(overrides["db_url"]))

    def start() -> Services:
        settings = Settings.from_env(home=tmp_path / "home", demo_corpus=False, max_runs_per_user=1, **overrides)
        return Services(settings, llm=ScriptedLLM(default_reply="Tallow."), embedder=HashEmbedder(64))

    return start


def _reset_postgres(url: str) -> None:
    """Each test starts from empty tables (the cluster is shared by the module)."""
    from sqlalchemy import create_engine

    from storage.models import Base

    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()


def _docs(n: int, tag: str = "") -> list[RawDocument]:
    out = []
    for i in range(n):
        title = f"Harbour {tag}{i}"
        text = f"Harbour {tag}{i} lies on the river Senn near Tallow; its salt market opened in {1800 + i}. " * 30
        out.append(RawDocument(id=doc_id(title, text), title=title, text=text, source=f"harbours.jsonl:line {i + 1}"))
    return out


def test_ingest_ask_delete_two_users_and_a_restart(deployment) -> None:
    svc = deployment()
    docs = _docs(12)
    report = svc.ingest_documents("harbours", docs)
    assert (report.added, report.errors) == (12, [])
    cid = svc.db.corpus_id("harbours")
    ns = svc.corpora.namespace(cid)
    chunk_ids = {c.chunk_id for c in svc.db.all_chunks(cid)}
    assert len(chunk_ids) > 12 and svc.vectors.ids(ns) == chunk_ids  # long documents: several chunks each
    assert svc.ingest_documents("harbours", docs).skipped == 12  # idempotent

    # two users asking at once: each run stored under its owner; one user's runs do not block the other
    runs: dict[str, str] = {}
    outcomes: dict[str, tuple[list[str], str]] = {}

    def ask(user: str) -> None:
        run = svc.run("naive", "harbours", f"When did the salt market of Harbour 3 open? ({user})", owner=user)
        outcomes[user] = ([e.kind for e in run], run.answer)
        runs[user] = run.run_id

    threads = [threading.Thread(target=ask, args=(u,)) for u in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {u: (["retrieve", "read"], "Tallow") for u in ("ann", "bob")}
    assert {svc.db.get_run(runs[u])["owner"] for u in ("ann", "bob")} == {"ann", "bob"}
    held = svc.run("naive", "harbours", "Which river?", owner="ann")  # created, not yet run
    with pytest.raises(LimitError, match="RAGSCOPE_MAX_RUNS_PER_USER"):
        svc.run("naive", "harbours", "And which sea?", owner="ann")
    list(held)
    svc.db.ensure_corpus("notes", owner="ann")
    svc.db.ensure_corpus("notes", owner="bob")  # the same name, another owner
    assert [c.name for c in svc.db.list_corpora("ann")] == ["notes"]

    # delete one document from SQL and vectors; search never returns it
    gone = docs[3]
    assert svc.corpora.delete_document("harbours", gone.id) >= 1
    assert gone.id not in {h.doc_id for h in svc.corpora.search("harbours", "Harbour 3 salt market", k=20)}
    svc.db.engine.dispose()

    # a restart: a new process's services find everything where it was
    again = deployment()
    cid2 = again.db.corpus_id("harbours")
    assert cid2 == cid and len(again.db.existing_doc_ids(cid2)) == 11
    assert again.vectors.ids(again.corpora.namespace(cid2)) == {c.chunk_id for c in again.db.all_chunks(cid2)}
    assert again.reconcile()["harbours"] == (0, 0)
    stored = again.db.get_run(runs["bob"])
    assert stored["status"] == "done" and [e["kind"] for e in stored["events"]] == ["retrieve", "read"]
    assert again.corpora.search("harbours", "Harbour 7 salt market", k=1)[0].title == "Harbour 7"
    again.delete_corpus("harbours")
    with pytest.raises(NotFound):
        again.db.corpus_id("harbours")
    assert again.vectors.count(ns) == 0
    again.db.engine.dispose()


def test_awkward_documents_store_on_every_backend(deployment, tmp_path: Path) -> None:
    import json

    from retrieval.readers import read_many

    lines = [
        {"id": "x" * 64, "title": "T" * 600, "text": "NUL \u0000 inside, a lone \ud800 surrogate, emoji 🐙."},
        {"title": "<img src=x onerror=alert(1)>", "text": "**bold** and 'quotes' and \\ backslashes; DROP TABLE runs;"},
        {"text": "Ünïcödé ẞ 北京 — " * 2000},
    ]
    path = tmp_path / ("long name " * 20 + ".jsonl")
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    docs, errors = read_many([path], 10**7)
    assert errors == [] and len(docs) == 3
    svc = deployment()
    report = svc.ingest_documents("awkward", docs)
    assert (report.added, report.errors) == (3, [])
    cid = svc.db.corpus_id("awkward")
    stored = {d.doc_id: svc.db.get_document(cid, d.doc_id) for d in svc.db.list_documents(cid)}
    assert stored["x" * 64][1] == "NUL  inside, a lone ? surrogate, emoji 🐙."
    assert any(title == "<img src=x onerror=alert(1)>" for title, _, _ in stored.values())
    assert svc.vectors.ids(svc.corpora.namespace(cid)) == {c.chunk_id for c in svc.db.all_chunks(cid)}
    svc.db.engine.dispose()
