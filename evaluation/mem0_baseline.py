"""The mem0 baseline of the dialogue bench: the `mem0ai` library as the memory, the app's model as the LLM.

    python -m venv --system-site-packages .venv-mem0 && .venv-mem0/bin/pip install -r requirements-mem0.txt
    python app.py worker --port 8210 &                                   # the model, over the OpenAI chat API
    RAGSCOPE_LLM_BACKEND=openai RAGSCOPE_OPENAI_BASE_URL=http://127.0.0.1:8210/v1 \
        .venv-mem0/bin/python app.py bench --agent mem0 --dialogues dialogues.jsonl

Per turn, as mem0's own docs use it: `Memory.search` for the user's message (top 5), a reply from the app's LLM
with those memories in the same prompt the history baselines and TiM's general replies use (plus the last two
turns), then `Memory.add` of the turn, in which mem0 asks the LLM (our worker, with its `response_format`) to
extract facts as JSON. mem0 is configured with the same model through the worker (`openai_base_url`), the bundled
MiniLM embedder (`huggingface` provider, local path) and a local on-disk Qdrant per dialogue. Every call mem0
makes to the LLM is recorded with its reply, and a fact-extraction reply that is not JSON with a "memory" list is
counted as a failure (mem0 itself logs it and stores nothing).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.conversation import MEMORY_SYSTEM, NO_THOUGHTS, chat_messages, clean_reply, recent_turns

if TYPE_CHECKING:
    from evaluation.dialogues import Dialogue
    from services import Services

NAME = "mem0"
SEARCH_K = 5  # memories put in the reply's prompt (mem0's search default is larger; TiM recalls 5)
TURNS = 2  # earlier turns shown with the memories (TiM's recent_turns)


def mem0_config(base_url: str, model: str, folder: Path) -> dict[str, Any]:
    """mem0's configuration: our worker as an OpenAI-compatible LLM, MiniLM, Qdrant on disk in `folder`."""
    from retrieval.embedder import bundled_model_path

    return {
        "llm": {"provider": "openai", "config": {"model": model, "openai_base_url": base_url, "api_key": "local",
                                                 "temperature": 0.0, "max_tokens": 400}},
        "embedder": {"provider": "huggingface", "config": {"model": str(bundled_model_path()),
                                                           "embedding_dims": 384}},
        "vector_store": {"provider": "qdrant", "config": {"path": str(folder / "qdrant"), "on_disk": True,
                                                          "collection_name": "bench", "embedding_model_dims": 384}},
        "history_db_path": str(folder / "history.db"),
    }


class CallLog:
    """Every LLM call mem0 makes: the reply, and whether a fact extraction came back as JSON with a memory list."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def wrap(self, llm: Any) -> None:
        """Record each `generate_response` of mem0's LLM object (and let errors through, recorded)."""
        inner = llm.generate_response

        def generate_response(messages: list[dict[str, str]], *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            entry: dict[str, Any] = {"response_format": kwargs.get("response_format"), "tools": bool(
                kwargs.get("tools")), "prompt_chars": sum(len(str(m.get("content", ""))) for m in messages)}
            try:
                reply = inner(messages, *args, **kwargs)
            except Exception as exc:
                entry.update(error=f"{type(exc).__name__}: {exc}"[:300], seconds=round(time.perf_counter() - t0, 2))
                with self.lock:
                    self.calls.append(entry)
                raise
            text = reply if isinstance(reply, str) else json.dumps(reply, default=str)
            entry.update(reply=text[:2000], seconds=round(time.perf_counter() - t0, 2),
                         parsed=_memory_list(text) is not None)
            with self.lock:
                self.calls.append(entry)
            return reply

        llm.generate_response = generate_response

    def summary(self) -> dict[str, Any]:
        """Calls, errors, and extraction replies that were not JSON with a memory list."""
        failed = [c for c in self.calls if c.get("error") or not c.get("parsed")]
        return {"llm_calls": len(self.calls), "errors": sum(bool(c.get("error")) for c in self.calls),
                "unparsed": sum(not c.get("error") and not c.get("parsed") for c in self.calls),
                "failure_rate": round(len(failed) / len(self.calls), 3) if self.calls else 0.0}


def _memory_list(text: str) -> list[Any] | None:
    """The "memory" list of a fact-extraction reply, as mem0 reads it (code fences removed), else None."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(body[start:end + 1], strict=False)
    except json.JSONDecodeError:
        return None
    memory = data.get("memory") if isinstance(data, dict) else None
    return memory if isinstance(memory, list) else None


def play(services: Services, dialogue: Dialogue) -> tuple[list[dict[str, Any]], int, CallLog]:
    """Play one dialogue to mem0 from an empty memory; (one row per turn, memories at the end, mem0's LLM calls)."""
    from mem0 import Memory

    log = CallLog()
    base_url = os.environ.get("RAGSCOPE_MEM0_BASE_URL") or services.settings.openai_base_url
    model = os.environ.get("RAGSCOPE_MEM0_MODEL", "") or _served_model(base_url)
    with tempfile.TemporaryDirectory(prefix="ragscope-mem0-") as tmp:
        memory = Memory.from_config(mem0_config(base_url, model, Path(tmp)))
        log.wrap(memory.llm)
        user = f"bench:{NAME}:{dialogue.id}"
        history: list[dict[str, str]] = []
        rows = []
        for i, turn in enumerate(dialogue.turns):
            t0 = time.perf_counter()
            calls_before = len(log.calls)
            error = ""
            try:
                found = memory.search(turn.user, top_k=SEARCH_K, filters={"user_id": user}).get("results", [])
            except Exception as exc:  # a failed search is a turn with no memories, recorded
                found, error = [], f"search: {type(exc).__name__}: {exc}"[:300]
            notes = [str(m.get("memory", "")) for m in found]
            system = MEMORY_SYSTEM.format(thoughts="\n".join(f"- {n}" for n in notes) or NO_THOUGHTS)
            messages = chat_messages(system, recent_turns(history, TURNS), turn.user)
            completion = services.llm.chat(messages, max_tokens=48, stop=["\n\n", "\nUser:"])
            reply = clean_reply(completion.text) or "(no reply)"
            try:
                memory.add([{"role": "user", "content": turn.user}, {"role": "assistant", "content": reply}],
                           user_id=user)
            except Exception as exc:  # mem0 raises when the LLM call fails; the turn is kept, the error recorded
                error = (error + "; " if error else "") + f"add: {type(exc).__name__}: {exc}"[:300]
            history += [{"role": "user", "content": turn.user}, {"role": "assistant", "content": reply}]
            row: dict[str, Any] = {"dialogue": dialogue.id, "turn": i, "user": turn.user, "reply": reply,
                                   "memories": notes, "run_id": "", "prompt_tokens": completion.prompt_tokens,
                                   "llm_calls": 1 + len(log.calls) - calls_before,
                                   "seconds": round(time.perf_counter() - t0, 3), "format_failures": 0,
                                   "error": error}
            rows.append(row)
        stored = len(memory.get_all(filters={"user_id": user}, top_k=1000).get("results", []))
    return rows, stored, log


def _served_model(base_url: str) -> str:
    """The model the OpenAI-compatible server at `base_url` serves."""
    import urllib.request

    with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=30) as response:
        return json.load(response)["data"][0]["id"]
