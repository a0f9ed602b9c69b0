"""ragscope: watch RAG and memory agents think. `python app.py` serves the web app; subcommands are the CLI."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

OFFLINE_ENV = {  # defaults only: a variable already set wins
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def configure_environment() -> None:
    """Run offline, without telemetry or tokenizer threads, unless the environment says otherwise."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)


def _parser() -> argparse.ArgumentParser:
    from settings import documented

    env_help = "\n".join(f"  {name:26} {text}" for name, text in documented())
    p = argparse.ArgumentParser(
        prog="app.py", description="ragscope: with no command, serve the web app.",
        epilog=f"settings (environment variables):\n{env_help}", formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command")
    user_help = ("act as this user: their private corpora and runs (and memory, for a chat agent); without it "
                 "the CLI is the operator, whose corpora everyone sees (read-only in a multi-user app)")
    ing = sub.add_parser("ingest", help="add .txt .md .pdf .html .jsonl files to a corpus")
    ing.add_argument("--corpus", required=True)
    ing.add_argument("--user", help=user_help)
    ing.add_argument("paths", nargs="+", type=Path)
    dele = sub.add_parser("delete", help="remove documents (by id) or a whole corpus from every store")
    dele.add_argument("--corpus", required=True)
    dele.add_argument("--user", help=user_help)
    dele.add_argument("doc_ids", nargs="*")
    dele.add_argument("--all", action="store_true", help="delete the whole corpus")
    ask = sub.add_parser("ask", help="run an agent on a question, printing each step as it happens")
    ask.add_argument("--agent", default="naive")
    ask.add_argument("--corpus", help="default: demo (none for chat agents such as tim)")
    ask.add_argument("--user", help=user_help + " (without it, a chat agent's memory is `local`'s)")
    ask.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    ask.add_argument("question")
    bench = sub.add_parser("bench", help="score agents on a corpus.jsonl + questions.jsonl, or on --dialogues")
    bench.add_argument("--agent", action="append", required=True, help="repeat or comma-separate")
    bench.add_argument("--corpus", type=Path)
    bench.add_argument("--questions", type=Path)
    bench.add_argument("--dialogues", type=Path, help="memory dialogues .jsonl (chat agents: tim, window...)")
    bench.add_argument("--limit", type=int)
    bench.add_argument("--concurrency", type=int, default=1,
                       help="questions run at once (their LLM calls batch; in the default mixed precision an answer "
                            "can then differ slightly from one at a time: RAGSCOPE_LLM_PRECISION=mixed-invariant or "
                            "fp32 gives identical ones)")
    bench.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    bench.add_argument("--json", type=Path)
    tr = sub.add_parser("trace", help="send stored runs to an OTLP collector (e.g. Phoenix) as OpenInference spans")
    tr.add_argument("run_ids", nargs="+")
    tr.add_argument("--endpoint", help="collector URL (default: RAGSCOPE_OTLP_ENDPOINT)")
    corp = sub.add_parser("corpora", help="list corpora")
    corp.add_argument("--user", help=user_help)
    docs = sub.add_parser("docs", help="list a corpus's documents")
    docs.add_argument("--corpus", required=True)
    docs.add_argument("--user", help=user_help)
    sub.add_parser("agents", help="list agents")
    work = sub.add_parser("worker", help="serve the model to every user at once (batched) over the OpenAI chat API")
    work.add_argument("--model", help="HF model id or folder (default: RAGSCOPE_LLM_MODEL)")
    work.add_argument("--host", default="127.0.0.1")
    work.add_argument("--port", type=int, default=8000)
    work.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: RAGSCOPE_LLM_DEVICE")
    work.add_argument("--max-batch", type=int, help="requests decoded together (default: RAGSCOPE_ENGINE_MAX_BATCH)")
    work.add_argument("--kv-blocks", type=int, help="KV cache blocks of 64 tokens (default: RAGSCOPE_ENGINE_KV_BLOCKS)")
    return p


def _config(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--config expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _services():  # noqa: ANN202 - imported lazily to keep `--help` fast
    from services import Services
    from settings import Settings

    return Services(Settings.from_env())


def worker(args: argparse.Namespace) -> int:
    """Serve the local model behind the batching engine over HTTP until interrupted."""
    from llm.factory import make_engine
    from llm.worker import serve
    from settings import Settings

    chosen = {"llm_model": args.model, "llm_device": args.device, "engine_max_batch": args.max_batch,
              "engine_kv_blocks": args.kv_blocks}
    settings = Settings.from_env(**{k: v for k, v in chosen.items() if v is not None})
    llm = make_engine(settings, progress=print)
    serve(llm, settings.llm_model, args.host, args.port)
    return 0


def cli(args: argparse.Namespace) -> int:
    """Run one CLI command; returns the exit code."""
    from tqdm import tqdm

    if args.command == "agents":
        from agents import registry

        for spec in registry.all_specs():
            print(f"{spec.name:12} {spec.title} — {spec.paper}")
        return 0
    if args.command == "worker":
        return worker(args)
    services = _services()
    user = getattr(args, "user", None)
    owner = services.owner(user or "")  # no --user: the operator's shared corpora
    if args.command == "ingest":
        bar = tqdm(desc=f"ingest into {args.corpus}", unit="doc")
        report = services.ingest(args.corpus, args.paths,
                                 lambda d, t, _m: (setattr(bar, "total", t), bar.update(d - bar.n)), owner=owner)
        bar.close()
        for err in report.errors:
            print(f"rejected: {err}", file=sys.stderr)
        print(report.summary())
        return 1 if report.errors and not report.added and not report.skipped else 0
    if args.command == "delete":
        if args.all:
            services.delete_corpus(args.corpus, owner)
            print(f"deleted corpus {args.corpus!r}")
            return 0
        if not args.doc_ids:
            raise ValueError("name document ids to delete, or --all for the whole corpus")
        for doc_id in args.doc_ids:
            n = services.delete_document(args.corpus, doc_id, owner)
            print(f"deleted {doc_id} ({n} chunks)")
        return 0
    if args.command == "trace":
        from tracing.openinference import Tracer, otlp_exporter

        endpoint = args.endpoint or services.settings.otlp_endpoint
        if not endpoint:
            raise ValueError("name a collector: --endpoint URL or RAGSCOPE_OTLP_ENDPOINT")
        tracer = Tracer(otlp_exporter(endpoint), model=services.settings.llm_model)
        for run_id in args.run_ids:
            run = services.db.get_run(run_id)
            if not tracer.export_run(run):
                raise RuntimeError(f"the collector at {endpoint} did not take run {run_id}'s spans")
            print(f"sent run {run_id} ({len(run['events'])} steps) as trace {run_id} to {endpoint}")
        tracer.shutdown()
        return 0
    if args.command == "corpora":
        if services.settings.demo_corpus:
            services.ensure_demo_corpus()
        for c in services.corpus_list(owner):
            print(f"{c.name:40} {c.documents:6} documents {c.chunks:6} chunks"
                  + ("" if c.owner == owner else "  (shared)"))
        return 0
    if args.command == "docs":
        for d in services.documents(args.corpus, owner):
            print(f"{d.doc_id:14} {d.chunks:3} chunks  {d.title[:70]}")
        return 0
    if args.command == "ask":
        from agents import registry

        corpus = args.corpus if args.corpus is not None else ("demo" if registry.get(args.agent).needs_corpus else "")
        run = services.run(args.agent, corpus, args.question, _config(args.config), owner=owner,
                           user=user or "local")
        for event in run:
            print(f"[{event.kind:>12} {event.seconds:6.2f}s] {event.explanation}", flush=True)
        print(f"\nanswer: {run.answer}")
        print(f"passages used: {', '.join(run.used_ids) or '(none)'}")
        print(f"run: {run.run_id} (open it in the trace viewer: /?run={run.run_id})")
        return 1 if run.error else 0
    if args.command == "bench":
        from evaluation.bench import format_table, run_bench, write_json

        agents = [a.strip() for arg in args.agent for a in arg.split(",") if a.strip()]
        from agents import registry

        for agent in agents:
            if not (args.dialogues and agent == "mem0"):  # mem0: a dialogue baseline, not an app agent
                registry.get(agent)
        if args.dialogues:
            from evaluation import dialogues

            results = dialogues.run_dialogue_bench(services, agents, args.dialogues, args.limit, _config(args.config),
                                                   concurrency=args.concurrency)
            print(dialogues.format_table(results))
            if args.json:
                write_json(results, args.json)
                print(f"wrote {args.json}")
            return 0
        if not (args.corpus and args.questions):
            raise ValueError("bench needs --corpus and --questions, or --dialogues")
        results = run_bench(services, agents, args.corpus, args.questions, args.limit, _config(args.config),
                            concurrency=args.concurrency, owner=owner)
        graph = (f"; knowledge graph {results['graph_index_seconds']} s" if "graph_index_seconds" in results else "")
        print(f"\n{results['corpus']} ({results['indexed']}; index {results['index_seconds']} s{graph})")
        print(format_table(results))
        walls = ", ".join(f"{a} {row['wall_seconds']} s" for a, row in results["agents"].items())
        print(f"wall time ({results['concurrency']} at once): {walls}; model {results['llm']}")
        print(f"stored as benchmark result {results['result_id']} (the app's Benchmarks tab lists it)")
        if args.json:
            write_json(results, args.json)
            print(f"wrote {args.json}")
        return 0
    raise ValueError(f"unknown command {args.command!r}")


def serve() -> None:
    """Build the services and the UI, then launch (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)."""
    from ui.app import build_app, launch

    services = _services()
    services.warm_up()
    launch(build_app(services))


def main(argv: list[str] | None = None) -> int:
    """Entry point: the web app without a command, else the CLI."""
    configure_environment()  # before anything imports huggingface_hub, transformers or chromadb
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.command is None:
        serve()
        return 0
    try:
        return cli(args)
    except (ValueError, LookupError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
