"""Runs as OpenInference spans: the agent span (trace id = run id), a retriever span with scored documents, LLM
spans with prompts and token counts; stored runs exported and live runs streamed; OTLP/JSON for a download."""

from __future__ import annotations

import base64
import json

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm.fake import ScriptedLLM
from tracing.openinference import Tracer, otlp_json, trace_id_of


def naive_run(services_factory, toy_docs, tracer=None):
    svc = services_factory(llm=ScriptedLLM(replies=["Tallow"]))
    svc.tracer = tracer
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("naive", "toy", "Where was the Orvane Guild founded?", {"top_k": 3})
    list(run)
    return svc, svc.db.get_run(run.run_id)


def check_spans(spans, stored) -> None:
    by_kind = {}
    for span in spans:
        by_kind.setdefault(span.attributes["openinference.span.kind"], []).append(span)
    (root,) = by_kind["AGENT"]
    assert root.name == "naive" and root.context.trace_id == trace_id_of(stored["id"]) == int(stored["id"], 16)
    assert root.attributes["input.value"] == stored["question"] and root.attributes["output.value"] == "Tallow"
    assert json.loads(root.attributes["metadata"])["config"]["top_k"] == 3
    (retriever,) = by_kind["RETRIEVER"]
    hits = stored["events"][0]["data"]["hits"]
    assert retriever.parent.span_id == root.context.span_id
    assert retriever.attributes["input.value"] == stored["question"]
    for i, hit in enumerate(hits):
        assert retriever.attributes[f"retrieval.documents.{i}.document.id"] == hit["chunk_id"]
        assert retriever.attributes[f"retrieval.documents.{i}.document.score"] == hit["score"]
        assert retriever.attributes[f"retrieval.documents.{i}.document.content"] == hit["text"]
    read = next(s for s in by_kind["CHAIN"] if s.name == "read")
    (llm,) = by_kind["LLM"]
    assert llm.parent.span_id == read.context.span_id
    event = stored["events"][1]
    assert llm.attributes["llm.token_count.prompt"] == event["prompt_tokens"] > 0
    assert llm.attributes["llm.token_count.completion"] == event["completion_tokens"]
    assert "Orvane" in llm.attributes["llm.input_messages.0.message.content"]
    assert llm.attributes["llm.output_messages.0.message.content"] == "Tallow"
    assert json.loads(llm.attributes["metadata"])["llm_calls"] == event["llm_calls"] == 2
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    assert spans[0].resource.attributes["openinference.project.name"] == "ragscope"


def test_a_stored_run_exports_as_openinference_spans(services_factory, toy_docs) -> None:
    _svc, stored = naive_run(services_factory, toy_docs)
    exporter = InMemorySpanExporter()
    Tracer(exporter, model="scripted", batch=False).export_run(stored)
    spans = exporter.get_finished_spans()
    assert len(spans) == 4  # agent, retrieve, read, the read's LLM span
    check_spans(spans, stored)
    step = next(s for s in spans if s.name == "retrieve")
    assert step.start_time == int(stored["events"][0]["started"] * 1e9)


def test_a_live_run_is_streamed_step_by_step(services_factory, toy_docs) -> None:
    exporter = InMemorySpanExporter()
    _svc, stored = naive_run(services_factory, toy_docs, Tracer(exporter, model="scripted", batch=False))
    spans = exporter.get_finished_spans()
    assert len(spans) == 4 and spans[0].name == "retrieve" and spans[-1].name == "naive"  # steps before the end
    check_spans(spans, stored)


def test_otlp_json_is_an_export_request_a_collector_reads() -> None:
    stored = {"id": "ab" * 16, "agent": "naive", "question": "Q?", "answer": "A", "corpus": "c", "config": {},
              "started": 100.0, "seconds": 2.0,
              "events": [{"kind": "retrieve", "explanation": "Searched.", "started": 100.0, "seconds": 0.5,
                          "llm_calls": 0, "data": {"query": "Q?", "hits": [{"chunk_id": "d:0", "doc_id": "d",
                                                                            "title": "D", "text": "t", "score": 0.5,
                                                                            "rank": 1}]}}]}
    body = json.loads(otlp_json(stored, "m"))
    spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert {s["name"] for s in spans} == {"naive", "retrieve"}
    assert {base64.b64decode(s["traceId"]).hex() for s in spans} == {"ab" * 16}  # the run id


def test_export_run_says_when_the_collector_did_not_take_the_spans() -> None:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Refusing(SpanExporter):
        def export(self, spans):  # noqa: ANN001, ANN202
            return SpanExportResult.FAILURE

    run = {"id": "cd" * 16, "agent": "naive", "question": "Q?", "answer": "A", "started": 1.0, "seconds": 1.0,
           "events": []}
    assert Tracer(Refusing(), batch=False).export_run(run) is False
    assert Tracer(InMemorySpanExporter(), batch=False).export_run(run) is True
