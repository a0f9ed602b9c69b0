"""OpenAI tool calls in the Hermes / Qwen format: the grammar a reply is decoded under, and the reply parsed back.

Chat templates that take `tools` (Qwen2.5, Qwen3, Hermes, ...) ask the model to answer a call as
`<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`. The grammar forces exactly that, with `arguments`
valid under the function's JSON Schema: one or more calls (`tool_choice="required"`), one call of a named function,
or (`"auto"`) either such calls or a reply that does not start with a call. Where the vocabulary has `<tool_call>`
as one token (Qwen2.5) the grammar names that token, so free text can never contain it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llm.grammar import JSON_OPTIONS

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_CALL = re.compile(re.escape(OPEN) + r"\s*(.*?)\s*" + re.escape(CLOSE), re.S)


@dataclass(frozen=True)
class ToolCall:
    """One parsed call: the function's name and its arguments (a JSON object)."""

    name: str
    arguments: dict[str, Any]

    def openai(self, index: int | None = None) -> dict[str, Any]:
        """The call as an OpenAI `tool_calls` entry (arguments as a JSON string; `index` for stream deltas)."""
        body: dict[str, Any] = {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                                "function": {"name": self.name, "arguments": json.dumps(self.arguments)}}
        return body if index is None else {"index": index, **body}


def _schema(schema: dict[str, Any]) -> str:
    """A JSON Schema for `%json`, with the compact spacing of `JSON_OPTIONS`."""
    return json.dumps({**schema, "x-guidance": JSON_OPTIONS})


def call_schema(tool: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one call of an OpenAI function tool: its name, and arguments under its parameters."""
    function = tool["function"]
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    return {"type": "object", "additionalProperties": False, "required": ["name", "arguments"],
            "properties": {"name": {"const": function["name"]}, "arguments": parameters}}


def tool_grammar(tools: Sequence[dict[str, Any]], mode: str, parallel: bool, single_tokens: bool,
                 reply_schema: dict[str, Any] | None = None) -> str:
    """Lark text for a reply under `tools`: mode "required" (calls), "auto" (calls or a reply), "none" (a reply);
    `tools` already narrowed to the named function for a named tool_choice. The reply is free text, or JSON under
    `reply_schema` (response_format); `single_tokens`: `<tool_call>` is one token of the vocabulary."""
    open_, close = ("<tool_call>", "</tool_call>") if single_tokens else (json.dumps(OPEN), json.dumps(CLOSE))
    schemas = [call_schema(t) for t in tools]
    body = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    # a newline may follow the last call: models trained on this format end a reply with one before EOS
    lines = [f'call: {open_} "\\n" %json {_schema(body)} "\\n" {close}',
             'calls: call ("\\n" call)* "\\n"?' if parallel else 'calls: call "\\n"?']
    if reply_schema is not None:
        lines.append(f"reply: %json {_schema(reply_schema)}")
    elif single_tokens:
        lines.append("reply: TEXT\nTEXT: /(?s:.*)/")  # free text cannot hold the <tool_call> token
    else:
        lines.append(f"reply: TEXT\nTEXT: /(?s:.*)/ & ~/(?s:{re.escape(OPEN)}.*)/")
    start = {"required": "start: calls", "auto": "start: reply | calls", "none": "start: reply"}[mode]
    return "\n".join([start, *lines])


def parse_tool_calls(text: str) -> list[ToolCall]:
    """The complete calls in a reply (none when it does not start with a call, or a call is not a JSON object)."""
    if not text.lstrip().startswith(OPEN):
        return []
    calls = []
    for body in _CALL.findall(text):
        try:
            value = json.loads(body)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            arguments = value.get("arguments")
            calls.append(ToolCall(value["name"], arguments if isinstance(arguments, dict) else {}))
    return calls


def may_be_a_call(text: str) -> bool:
    """True while a reply's start is, or could still grow into, a tool call (streaming holds such text back)."""
    head = text.lstrip()
    return head.startswith(OPEN) or (len(head) < len(OPEN) and OPEN.startswith(head))
