"""The OpenAI chat-completions request as the worker reads it: every field is honoured or refused by name.

`ChatRequest` (pydantic, unknown fields forbidden) parses the body; `plan` turns it into what the engine runs (the
messages for the chat template, the tools, the grammar, the token limit, the logprobs asked) or raises `APIError`,
whose body is OpenAI's `{"error": {"message", "type", "param", "code"}}`. Decoding is greedy: fields that need
sampling (temperature > 0, n > 1, seed, penalties, logit_bias) are refused with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llm.grammar import ANY_JSON_OBJECT, json_schema_grammar, lark_grammar
from llm.tool_calls import tool_grammar

GREEDY = "this worker decodes greedily (temperature 0)"
MAX_TOP_LOGPROBS = 20


class APIError(Exception):
    """An error the worker answers in OpenAI's shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI clients parse."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Strict):
    """The function of an assistant's tool call."""

    name: str
    arguments: str  # a JSON object as text, as OpenAI sends it


class ToolCallIn(_Strict):
    """A tool call of an earlier assistant turn."""

    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Strict):
    """One chat turn: text content (or text parts), an assistant's tool calls, or a tool's result."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None  # accepted; the chat template has no place for it
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    # echoed back by SDKs that append a response message as it came; only empty values are accepted
    refusal: None = None
    audio: None = None
    function_call: None = None
    annotations: list[Any] | None = Field(default=None, max_length=0)


class FunctionDef(_Strict):
    """An OpenAI function tool's definition."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None  # arguments are always decoded under `parameters`


class Tool(_Strict):
    """A tool the model may call (functions only)."""

    type: Literal["function"]
    function: FunctionDef


class NamedToolChoice(_Strict):
    """`tool_choice` naming one function."""

    type: Literal["function"]
    function: dict[str, str]


class JsonSchemaFormat(_Strict):
    """`response_format.json_schema`."""

    name: str
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=lambda: dict(ANY_JSON_OBJECT), alias="schema")
    strict: bool | None = None  # the reply is always decoded under the schema


class ResponseFormat(_Strict):
    """`response_format`: text, any JSON object, or JSON under a schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(_Strict):
    """`stream_options`."""

    include_usage: bool | None = None
    include_obfuscation: bool | None = None  # no obfuscation padding is sent either way


class StructuredOutputs(_Strict):
    """vLLM's structured outputs; only `choice` is supported."""

    choice: list[str] | None = None


class ChatRequest(_Strict):
    """The fields of an OpenAI chat completion request; any other field is refused by name."""

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)  # greedy's token is in every nucleus: honoured as is
    n: int | None = Field(default=None, ge=1)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None  # accepted; it does not change the reply
    structured_outputs: StructuredOutputs | None = None
    guided_choice: list[str] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> list[str] | None:
        return [value] if isinstance(value, str) else value

    def options(self) -> list[str] | None:
        """The options of a constrained choice, if one is asked."""
        if self.structured_outputs is not None and self.structured_outputs.choice is not None:
            return self.structured_outputs.choice
        return self.guided_choice

    def limit(self, default: int) -> int:
        """The most tokens to generate."""
        return self.max_completion_tokens or self.max_tokens or default


@dataclass
class Plan:
    """What the engine runs for one request."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    grammar: str | None = None  # llguidance grammar text
    json_reply: bool = False  # the reply is JSON (response_format json_object / json_schema)
    tool_mode: str | None = None  # "auto" | "required" | "none" when tools are given
    top_logprobs: int | None = None  # None: no logprobs
    options: list[str] | None = None  # a constrained choice
    include_usage: bool = False  # a streamed reply ends with a usage chunk
    extra: dict[str, Any] = field(default_factory=dict)


def refuse_sampling(body: ChatRequest) -> None:
    """Refuse, naming the field, whatever would need sampling or a penalty (decoding is greedy)."""
    if body.temperature:
        raise APIError(400, f"temperature={body.temperature:g} is not supported: {GREEDY}; send temperature 0 or "
                            "leave it out", "temperature", "unsupported_value")
    if body.n is not None and body.n > 1:
        raise APIError(400, f"n={body.n} is not supported: {GREEDY}, so every choice would be the same reply; "
                            "send n=1", "n", "unsupported_value")
    if body.seed is not None:
        raise APIError(400, f"seed is not supported: {GREEDY}, so there is no sampling to seed; leave seed out",
                       "seed", "unsupported_parameter")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(body, name):
            raise APIError(400, f"{name} is not supported: {GREEDY} without penalties; send 0 or leave it out",
                           name, "unsupported_value")
    if body.logit_bias:
        raise APIError(400, "logit_bias is not supported by this worker; leave it out", "logit_bias",
                       "unsupported_parameter")


def template_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The messages as the chat template takes them: text parts joined, tool-call arguments as objects."""
    out = []
    for i, m in enumerate(messages):
        content = _text(m.content, i)
        if content is None and not (m.role == "assistant" and m.tool_calls):
            raise APIError(400, f"messages[{i}].content is null; only an assistant turn with tool_calls may have no "
                                "content", f"messages[{i}].content")
        if m.tool_calls and m.role != "assistant":
            raise APIError(400, f"messages[{i}] has tool_calls but role {m.role!r}; only assistant turns call tools",
                           f"messages[{i}].tool_calls")
        if m.role == "tool" and not m.tool_call_id:
            raise APIError(400, f"messages[{i}] (role tool) needs tool_call_id", f"messages[{i}].tool_call_id")
        turn: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role, "content": content}
        if m.tool_calls:
            turn["tool_calls"] = [{"id": c.id, "type": "function",
                                   "function": {"name": c.function.name,
                                                "arguments": _arguments(c.function.arguments, i)}}
                                  for c in m.tool_calls]
        if m.tool_call_id:
            turn["tool_call_id"] = m.tool_call_id
        out.append(turn)
    return out


def _text(content: str | list[dict[str, Any]] | None, i: int) -> str | None:
    """A message's text: a string, or its text parts joined; any other part is refused by name."""
    if content is None or isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type")
        where = f"messages[{i}].content[{j}]"
        if kind != "text":
            raise APIError(400, f"{where} is a {kind!r} part; this worker serves a text-only model and takes only "
                                "text parts", where, "unsupported_content")
        if not isinstance(part.get("text"), str) or set(part) - {"type", "text"}:
            raise APIError(400, f"{where} must be {{\"type\": \"text\", \"text\": \"...\"}}", where)
        texts.append(part["text"])
    return "".join(texts)


def _arguments(text: str, i: int) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise APIError(400, f"messages[{i}].tool_calls: arguments must be a JSON object as text",
                       f"messages[{i}].tool_calls")
    return value


def _reply_schema(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    """The JSON Schema the reply must follow (None: free text)."""
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return dict(ANY_JSON_OBJECT)
    if fmt.json_schema is None:
        raise APIError(400, "response_format of type json_schema needs a json_schema object",
                       "response_format.json_schema")
    return fmt.json_schema.schema_


def _tool_mode(body: ChatRequest) -> tuple[str, list[Tool]]:
    """("auto" | "required" | "none", the tools a call may use) for a request with tools."""
    tools = body.tools or []
    choice = body.tool_choice
    if isinstance(choice, NamedToolChoice):
        name = choice.function.get("name")
        named = [t for t in tools if t.function.name == name]
        if not named:
            raise APIError(400, f"tool_choice names function {name!r}, which is not among tools "
                                f"({', '.join(t.function.name for t in tools)})", "tool_choice")
        return "required", named
    return choice or "auto", tools


def plan(body: ChatRequest, supports_tools: bool, single_tool_tokens: bool) -> Plan:
    """What to run for `body`, or APIError naming the field that cannot be honoured."""
    refuse_sampling(body)
    if body.tool_choice is not None and not body.tools:
        raise APIError(400, "tool_choice is set but no tools are given", "tool_choice")
    if body.top_logprobs is not None and not body.logprobs:
        raise APIError(400, "top_logprobs needs logprobs: true", "top_logprobs")
    result = Plan(messages=template_messages(body.messages),
                  top_logprobs=(body.top_logprobs or 0) if body.logprobs else None,
                  include_usage=bool(body.stream_options and body.stream_options.include_usage))
    if body.stream_options is not None and not body.stream:
        raise APIError(400, "stream_options is only allowed with stream: true", "stream_options")
    options = body.options()
    if options is not None:
        if not options or any(not o for o in options):
            raise APIError(400, "structured_outputs.choice needs at least one non-empty option",
                           "structured_outputs.choice")
        if body.tools or body.response_format is not None or body.logprobs:
            raise APIError(400, "a choice (structured_outputs.choice) cannot be combined with tools, "
                                "response_format or logprobs", "structured_outputs")
        result.options = options
        return result
    reply_schema = _reply_schema(body.response_format)
    result.json_reply = reply_schema is not None
    try:
        if body.tools:
            if not supports_tools:
                raise APIError(400, "tools are not supported by this model: its chat template has no tools", "tools")
            mode, usable = _tool_mode(body)
            result.tool_mode = mode
            result.tools = [t.model_dump(exclude_none=True) for t in body.tools]
            result.grammar = lark_grammar(tool_grammar(
                [t.model_dump(exclude_none=True) for t in usable], mode, body.parallel_tool_calls is not False,
                single_tool_tokens, reply_schema))
        elif reply_schema is not None:
            result.grammar = json_schema_grammar(reply_schema)
    except APIError:
        raise
    except Exception as exc:  # noqa: BLE001 - a schema the grammar engine cannot compile is the client's to fix
        param = "tools" if body.tools else "response_format"
        raise APIError(400, f"{param}: {exc}", param, "invalid_schema") from exc
    if body.parallel_tool_calls is not None and not body.tools:
        raise APIError(400, "parallel_tool_calls is set but no tools are given", "parallel_tool_calls")
    return result
