"""Runs as OpenTelemetry spans in the OpenInference conventions (what Arize Phoenix and other LLM tracing tools
read): one AGENT span per run, one span per step (RETRIEVER for searches and graph walks, with each passage as a
document with its score; CHAIN otherwise), and LLM spans under the steps that called the model, with their
prompts, replies and token counts. A run's trace id is its run id, so the trace and the share link name the
same run.

A step's events keep its token totals, not each call's: the first LLM span of a step carries the step's totals
and `metadata.llm_calls` says how many calls they cover; further prompts of the step (labelled prompts) are LLM
spans of their own without counts, so a collector's token sums stay right.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from openinference.semconv.resource import ResourceAttributes
from openinference.semconv.trace import (
    DocumentAttributes,
    MessageAttributes,
    OpenInferenceSpanKindValues,
    SpanAttributes,
)
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import Status, StatusCode

log = logging.getLogger(__name__)
PROJECT = "ragscope"  # the Phoenix project the spans land in
RETRIEVAL_KINDS = ("retrieve", "graph_walk")
MAX_TEXT = 8000  # characters of one attribute value (prompts, passages)

_TRACE_ID: contextvars.ContextVar[int] = contextvars.ContextVar("ragscope_trace_id", default=0)


class RunIdGenerator(IdGenerator):
    """Trace ids from run ids (set for the duration of a root span); random span ids."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        """A random span id."""
        return self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        """The current run's id as a 128-bit trace id, else a random one."""
        return _TRACE_ID.get() or self._random.generate_trace_id()


def trace_id_of(run_id: str) -> int:
    """The trace id of a run: its 32 hex digits as a number (0 when the id is not hex)."""
    try:
        return int(run_id, 16) & ((1 << 128) - 1)
    except ValueError:
        return 0


def _ns(seconds: float) -> int:
    return int(float(seconds or 0.0) * 1e9)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _messages(prefix: str, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, m in enumerate(messages):
        out[f"{prefix}.{i}.{MessageAttributes.MESSAGE_ROLE}"] = str(m.get("role", "user"))
        out[f"{prefix}.{i}.{MessageAttributes.MESSAGE_CONTENT}"] = _text(m.get("content", ""))
    return out


def llm_calls_of(data: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]], str]]:
    """(label, prompt messages, reply) of each prompt a step recorded, in the order it sent them."""
    out = []
    for key, reply_key in (("prompt", "reply"), ("decision_prompt", ""), ("rationale_prompt", "rationale_reply")):
        messages = data.get(key)
        if isinstance(messages, list) and messages:
            out.append((key, messages, str(data.get(reply_key, "")) if reply_key else ""))
    for labelled in data.get("prompts") or []:
        if isinstance(labelled, dict) and labelled.get("messages"):
            out.append((str(labelled.get("label", "prompt")), labelled["messages"], ""))
    return out


def step_attributes(event: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(span kind, attributes) of one step's span."""
    data = event.get("data") or {}
    kind = str(event.get("kind", ""))
    attrs: dict[str, Any] = {SpanAttributes.OUTPUT_VALUE: _text(event.get("explanation", "")),
                             "ragscope.step.kind": kind}
    if kind in RETRIEVAL_KINDS and isinstance(data.get("hits"), list):
        attrs[SpanAttributes.OPENINFERENCE_SPAN_KIND] = OpenInferenceSpanKindValues.RETRIEVER.value
        attrs[SpanAttributes.INPUT_VALUE] = _text(data.get("query", ""))
        for i, hit in enumerate(data["hits"]):
            prefix = f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}"
            attrs[f"{prefix}.{DocumentAttributes.DOCUMENT_ID}"] = str(hit.get("chunk_id") or hit.get("doc_id", ""))
            attrs[f"{prefix}.{DocumentAttributes.DOCUMENT_CONTENT}"] = _text(hit.get("text", ""))
            if isinstance(hit.get("score"), (int, float)):
                attrs[f"{prefix}.{DocumentAttributes.DOCUMENT_SCORE}"] = float(hit["score"])
            attrs[f"{prefix}.{DocumentAttributes.DOCUMENT_METADATA}"] = json.dumps(
                {"title": hit.get("title", ""), "doc_id": hit.get("doc_id", ""), "rank": hit.get("rank")},
                ensure_ascii=False)
        return OpenInferenceSpanKindValues.RETRIEVER.value, attrs
    attrs[SpanAttributes.OPENINFERENCE_SPAN_KIND] = OpenInferenceSpanKindValues.CHAIN.value
    if data.get("query"):
        attrs[SpanAttributes.INPUT_VALUE] = _text(data["query"])
    return OpenInferenceSpanKindValues.CHAIN.value, attrs


def llm_attributes(event: Mapping[str, Any], model: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, attributes) of the LLM spans under one step (none when the step made no LLM call)."""
    calls = int(event.get("llm_calls") or 0)
    if not calls:
        return []
    recorded = llm_calls_of(event.get("data") or {}) or [("llm", [], "")]
    out = []
    for i, (label, messages, reply) in enumerate(recorded):
        attrs: dict[str, Any] = {SpanAttributes.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.LLM.value,
                                 SpanAttributes.LLM_MODEL_NAME: model,
                                 **_messages(SpanAttributes.LLM_INPUT_MESSAGES, messages)}
        if messages:
            attrs[SpanAttributes.INPUT_VALUE] = _text(messages[-1].get("content", ""))
        if reply:
            attrs.update(_messages(SpanAttributes.LLM_OUTPUT_MESSAGES, [{"role": "assistant", "content": reply}]))
            attrs[SpanAttributes.OUTPUT_VALUE] = _text(reply)
        if i == 0:  # the step's totals, once
            prompt, completion = int(event.get("prompt_tokens") or 0), int(event.get("completion_tokens") or 0)
            attrs[SpanAttributes.LLM_TOKEN_COUNT_PROMPT] = prompt
            attrs[SpanAttributes.LLM_TOKEN_COUNT_COMPLETION] = completion
            attrs[SpanAttributes.LLM_TOKEN_COUNT_TOTAL] = prompt + completion
            attrs[SpanAttributes.METADATA] = json.dumps({"llm_calls": calls, "prompts_recorded": len(recorded)})
        out.append((label, attrs))
    return out


def root_attributes(run: Mapping[str, Any]) -> dict[str, Any]:
    """The AGENT span's attributes: question in, answer out, agent, corpus and settings as metadata."""
    attrs = {SpanAttributes.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.AGENT.value,
             SpanAttributes.INPUT_VALUE: _text(run.get("question", "")),
             SpanAttributes.TAG_TAGS: [str(run.get("agent", ""))],
             SpanAttributes.METADATA: json.dumps({"run_id": run.get("id", ""), "agent": run.get("agent", ""),
                                                  "corpus": run.get("corpus", ""), "config": run.get("config") or {}},
                                                 ensure_ascii=False, default=str),
             "ragscope.run_id": str(run.get("id", ""))}
    if run.get("conversation"):
        attrs[SpanAttributes.SESSION_ID] = str(run["conversation"])
    return attrs


class _Watched(SpanExporter):
    """An exporter that counts the batches its inner exporter failed to deliver."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner, self.failures = inner, 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class Tracer:
    """An OpenTelemetry tracer of its own (not the process's global one) sending spans to an exporter."""

    def __init__(self, exporter: SpanExporter, model: str = "", batch: bool = True) -> None:
        resource = Resource.create({ResourceAttributes.PROJECT_NAME: PROJECT, "service.name": PROJECT})
        self.provider = TracerProvider(resource=resource, id_generator=RunIdGenerator())
        self.exporter = _Watched(exporter)
        processor = BatchSpanProcessor(self.exporter) if batch else SimpleSpanProcessor(self.exporter)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("ragscope")
        self.model = model
        self._lock = threading.Lock()

    def start_root(self, run: Mapping[str, Any]) -> trace.Span:
        """Open a run's AGENT span (trace id = run id)."""
        token = _TRACE_ID.set(trace_id_of(str(run.get("id", ""))))
        try:
            return self.tracer.start_span(str(run.get("agent") or "run"), start_time=_ns(run.get("started", 0)),
                                          attributes=root_attributes(run))
        finally:
            _TRACE_ID.reset(token)

    def add_step(self, root: trace.Span, event: Mapping[str, Any]) -> None:
        """One step's span (and its LLM spans) under the run's span, timed as the step was."""
        context = trace.set_span_in_context(root)
        start = _ns(event.get("started", 0))
        end = start + _ns(event.get("seconds", 0))
        _, attrs = step_attributes(event)
        span = self.tracer.start_span(str(event.get("kind", "step")), context=context, start_time=start,
                                      attributes=attrs)
        inner = trace.set_span_in_context(span)
        for name, llm_attrs in llm_attributes(event, self.model):
            self.tracer.start_span(name, context=inner, start_time=start, attributes=llm_attrs).end(end_time=end)
        if event.get("kind") == "error":
            span.set_status(Status(StatusCode.ERROR, str((event.get("data") or {}).get("error", ""))))
        span.end(end_time=end)

    def finish_root(self, root: trace.Span, run: Mapping[str, Any], end_seconds: float) -> None:
        """Close a run's span with its answer (or error)."""
        root.set_attribute(SpanAttributes.OUTPUT_VALUE, _text(run.get("answer", "")))
        if run.get("error"):
            root.set_status(Status(StatusCode.ERROR, str(run["error"])))
        root.end(end_time=_ns(end_seconds))

    def export_run(self, run: Mapping[str, Any]) -> bool:
        """Send a stored run (a dict with its events) as spans and wait until they are exported; False when the
        collector did not take them (the exporter logs why)."""
        failures = self.exporter.failures
        events = run.get("events") or []
        root = self.start_root(run)
        for event in events:
            self.add_step(root, event)
        ends = [float(e.get("started") or 0) + float(e.get("seconds") or 0) for e in events]
        self.finish_root(root, run, max([float(run.get("started") or 0) + float(run.get("seconds") or 0), *ends]))
        return self.flush() and self.exporter.failures == failures

    def live(self, run: Any) -> LiveRun:
        """Wrap an AgentRun so each step is sent as it comes (the run's span closes when it ends)."""
        return LiveRun(run, self)

    def flush(self, timeout_ms: int = 30_000) -> bool:
        """Export every finished span now."""
        return self.provider.force_flush(timeout_ms)

    def shutdown(self) -> None:
        """Flush and stop."""
        self.provider.shutdown()


class LiveRun:
    """An AgentRun whose events are also sent as spans while it runs; everything else is the run's own."""

    def __init__(self, run: Any, tracer: Tracer) -> None:
        self._run, self._tracer = run, tracer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def __iter__(self) -> Iterator[Any]:
        import time

        run = self._run
        started = time.time()
        head = {"id": run.run_id, "agent": run.spec.name, "question": run.question, "corpus": run.corpus,
                "config": getattr(run, "config", None) and _asdict(run.config), "started": started,
                "conversation": getattr(run, "conversation", "")}
        try:
            root = self._tracer.start_root(head)
        except Exception:  # noqa: BLE001 - tracing never breaks a run
            log.exception("could not start the run's trace")
            yield from run
            return
        try:
            for event in run:
                try:
                    self._tracer.add_step(root, event.to_dict())
                except Exception:  # noqa: BLE001
                    log.exception("could not trace a step")
                yield event
        finally:
            self._tracer.finish_root(root, {"answer": run.answer, "error": run.error}, time.time())


def _asdict(config: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config or {})


def otlp_exporter(endpoint: str) -> SpanExporter:
    """An OTLP/HTTP (protobuf) exporter to `endpoint` (a collector's base URL or its /v1/traces URL)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    return OTLPSpanExporter(endpoint=url, timeout=10)


def otlp_json(run: Mapping[str, Any], model: str = "") -> str:
    """A stored run as an OTLP/JSON trace export (ExportTraceServiceRequest), for a file to download."""
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    class Collect(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[ReadableSpan] = []

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

    collect = Collect()
    tracer = Tracer(collect, model, batch=False)
    tracer.export_run(run)
    tracer.shutdown()
    return MessageToJson(encode_spans(collect.spans))
