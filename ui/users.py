"""Who is asking: one key per person (ARCHITECTURE.md "Users"), the UI side of it.

On a Space with HF OAuth the key is the logged-in username (`gr.Request.username`); otherwise a random id
kept in the browser (`gr.BrowserState`, so it survives a reload and two browsers never share it). The page
load resolves the key into a session State; tabs take that State as an input and call `user_key` in
their handlers (an API call without a page gets a fresh id).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import gradio as gr

STORAGE_KEY = "ragscope-user"
BROWSER_PREFIX = "browser-"
_BROWSER_ID = re.compile(r"^browser-[0-9a-f]{16}$")


def user_state() -> gr.BrowserState:
    """The browser-kept random id (empty until the page's first load makes one)."""
    return gr.BrowserState("", storage_key=STORAGE_KEY)


def session_user() -> gr.State:
    """The resolved key for this page session (set on load; a State, so it is not part of the API)."""
    return gr.State("")


def on_load(stored: Any, request: gr.Request) -> tuple[str, str]:
    """On page load: (the browser id to keep, this session's key: the login, else that browser id)."""
    browser_id = ensure_browser_id(stored)
    return browser_id, logged_in(request) or browser_id


def new_browser_id() -> str:
    """A fresh random browser id."""
    return f"{BROWSER_PREFIX}{uuid.uuid4().hex[:16]}"


def logged_in(request: gr.Request | None) -> str:
    """The HF OAuth username of the request, or ''."""
    return str(getattr(request, "username", None) or "") if request is not None else ""


def ensure_browser_id(stored: Any) -> str:
    """The stored browser id when it is well formed, else a new one (on the first visit)."""
    value = str(stored or "")
    return value if _BROWSER_ID.match(value) else new_browser_id()


def user_key(stored: Any, request: gr.Request | None = None) -> str:
    """The key that owns this request's data: the logged-in username, else the browser's id."""
    return logged_in(request) or ensure_browser_id(stored)


def describe_user(key: str) -> str:
    """'you (browser id browser-…)' or the logged-in name, for a status line."""
    if key.startswith(BROWSER_PREFIX):
        return f"this browser (`{key}`)"
    return f"**{key}**"
