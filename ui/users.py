"""Who is asking: one key per person (ARCHITECTURE.md "Users"), the UI side of it.

On a Space with HF OAuth the key is the logged-in username (`gr.Request.username`); otherwise a random id
kept in the browser (`gr.BrowserState`, so it survives a reload; encrypted with a secret kept in
RAGSCOPE_HOME, so it survives a restart too). Every handler that owns or reads a user's data takes that
BrowserState as an input and calls `user_key`.

The first visit has no id until the page's load event stores one, and a question can be sent before that.
Both resolve the id through the page session (`request.session_hash`, the same for every event of one
page): whichever comes first makes the id, the other finds it, so a run sent before the load still
belongs to the id the browser then keeps. An API client (gradio_client) has one session per Client, so its
calls share one key too.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import gradio as gr

STORAGE_KEY = "ragscope-user"
BROWSER_PREFIX = "browser-"
SECRET_FILE = "browser-state-secret"
SESSIONS_KEPT = 20_000  # page sessions whose id is remembered (newest kept); a load follows its page in seconds
_BROWSER_ID = re.compile(r"^browser-[0-9a-f]{16}$")
_sessions: OrderedDict[str, str] = OrderedDict()
_sessions_lock = threading.Lock()


def user_state(secret: str | None = None) -> gr.BrowserState:
    """The browser-kept random id (empty until the page's first load makes one)."""
    return gr.BrowserState("", storage_key=STORAGE_KEY, secret=secret)


def browser_secret(home: Path) -> str | None:
    """The secret that encrypts the browser id, kept in `home` so ids survive a restart (None: a random one)."""
    path = home / SECRET_FILE
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{uuid.uuid4().hex}.tmp")
            tmp.write_text(secrets.token_hex(16), encoding="utf-8")
            tmp.chmod(0o600)
            tmp.replace(path)  # two processes starting at once: one secret wins, both read it below
        value = path.read_text(encoding="utf-8").strip()
        return value or None
    except OSError:
        return None


def on_load(stored: Any, request: gr.Request) -> tuple[str, str]:
    """On page load: (the browser id to keep, this session's key: the login, else that browser id)."""
    browser_id = stored if valid_browser_id(stored) else session_id(request)
    return browser_id, logged_in(request) or browser_id


def new_browser_id() -> str:
    """A fresh random browser id."""
    return f"{BROWSER_PREFIX}{uuid.uuid4().hex[:16]}"


def valid_browser_id(value: Any) -> bool:
    """Whether a stored value is a well-formed browser id."""
    return isinstance(value, str) and bool(_BROWSER_ID.match(value))


def session_id(request: gr.Request | None) -> str:
    """The browser id of this page session: made by its first event (load or not), found by the later ones."""
    session = str(getattr(request, "session_hash", None) or "") if request is not None else ""
    if not session:
        return new_browser_id()
    with _sessions_lock:
        made = _sessions.get(session) or new_browser_id()
        _sessions[session] = made
        _sessions.move_to_end(session)
        while len(_sessions) > SESSIONS_KEPT:
            _sessions.popitem(last=False)
    return made


def oauth_enabled() -> bool:
    """True on a Space whose README says `hf_oauth: true`: Hugging Face then sets OAUTH_CLIENT_ID (and the
    other OAuth variables gradio reads), and the app shows a sign-in button. Elsewhere gradio's LoginButton
    would demand a local HF token, so it is left out and every visitor keeps a browser id."""
    return bool(os.environ.get("OAUTH_CLIENT_ID"))


def logged_in(request: gr.Request | None) -> str:
    """The HF OAuth username of the request, or ''."""
    return str(getattr(request, "username", None) or "") if request is not None else ""


def ensure_browser_id(stored: Any) -> str:
    """The stored browser id when it is well formed, else a new one."""
    return stored if valid_browser_id(stored) else new_browser_id()


def user_key(stored: Any, request: gr.Request | None = None) -> str:
    """The key that owns this request's data: the logged-in username, else the browser's id (its page
    session's, before the page's load has stored one)."""
    return logged_in(request) or (stored if valid_browser_id(stored) else session_id(request))


def describe_user(key: str) -> str:
    """'you (browser id browser-…)' or the logged-in name, for a status line."""
    if key.startswith(BROWSER_PREFIX):
        return f"this browser (`{key}`)"
    return f"**{key}**"
