"""Settings from environment variables, read once at start-up. Every default runs fully offline."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

DEFAULT_LLM = "bundled:qwen2.5-coder-0.5b-instruct"
DEFAULT_EMBEDDER = "bundled:all-MiniLM-L6-v2"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    """Where data lives and which models and stores to use; docs/settings.md lists each variable."""

    home: Path = field(metadata={"env": "RAGSCOPE_HOME", "help": "Folder for SQLite, Chroma and model caches."})
    db_url: str = field(metadata={"env": "RAGSCOPE_DB_URL", "help": "SQLAlchemy URL (SQLite file by default)."})
    chroma_path: Path = field(metadata={"env": "RAGSCOPE_CHROMA_PATH", "help": "On-disk Chroma folder."})
    chroma_host: str = field(metadata={"env": "RAGSCOPE_CHROMA_HOST", "help": "Chroma server host; empty = embedded."})
    chroma_port: int = field(metadata={"env": "RAGSCOPE_CHROMA_PORT", "help": "Chroma server port."})
    embedder: str = field(metadata={"env": "RAGSCOPE_EMBEDDER", "help": "sentence-transformers model id or path."})
    embedder_precision: str = field(metadata={"env": "RAGSCOPE_EMBEDDER_PRECISION",
                                              "help": "auto (mixed on a CPU with AMX-BF16 or AVX512-BF16, else fp32) "
                                                      "| fp32 | mixed"})
    llm_backend: str = field(metadata={"env": "RAGSCOPE_LLM_BACKEND", "help": "local | openai"})
    llm_model: str = field(metadata={"env": "RAGSCOPE_LLM_MODEL", "help": "HF model id, local folder, or server model."})
    llm_device: str = field(metadata={"env": "RAGSCOPE_LLM_DEVICE", "help": "auto | cpu | cuda"})
    llm_precision: str = field(metadata={"env": "RAGSCOPE_LLM_PRECISION",
                                         "help": "auto (bf16 on GPU; on CPU mixed with AMX-BF16 or AVX512-BF16, "
                                                 "else fp32) | fp32 | mixed | mixed-invariant (mixed, and a "
                                                 "request's answer does not depend on what shares its batch; "
                                                 "slower) | bf16; with RAGSCOPE_LLM_ENGINE=ct2: auto | int8 | fp32"})
    openai_base_url: str = field(metadata={"env": "RAGSCOPE_OPENAI_BASE_URL", "help": "OpenAI-compatible base URL."})
    openai_api_key: str = field(metadata={"env": "RAGSCOPE_OPENAI_API_KEY", "help": "API key for that server."})
    max_file_mb: float = field(metadata={"env": "RAGSCOPE_MAX_FILE_MB", "help": "Largest file ingest accepts."})
    max_files: int = field(metadata={"env": "RAGSCOPE_MAX_FILES", "help": "Most files in one upload."})
    max_user_mb: float = field(metadata={"env": "RAGSCOPE_MAX_USER_MB",
                                         "help": "Most document text one user's corpora may hold (0 = no limit)."})
    max_question_chars: int = field(metadata={"env": "RAGSCOPE_MAX_QUESTION_CHARS", "help": "Longest question."})
    max_run_tokens: int = field(metadata={"env": "RAGSCOPE_MAX_RUN_TOKENS",
                                          "help": "LLM tokens (prompt + completion) one run may spend."})
    max_run_steps: int = field(metadata={"env": "RAGSCOPE_MAX_RUN_STEPS", "help": "Graph steps one run may take."})
    max_runs_per_user: int = field(metadata={"env": "RAGSCOPE_MAX_RUNS_PER_USER",
                                             "help": "Runs one user may have in flight at once."})
    single_user: bool = field(metadata={"env": "RAGSCOPE_SINGLE_USER",
                                        "help": "1 = a laptop: every run and corpus is the one user's."})
    chunk_words: int = field(metadata={"env": "RAGSCOPE_CHUNK_WORDS", "help": "Words per chunk for long documents."})
    chunk_overlap: int = field(metadata={"env": "RAGSCOPE_CHUNK_OVERLAP", "help": "Words shared by neighbouring chunks."})
    demo_corpus: bool = field(metadata={"env": "RAGSCOPE_DEMO_CORPUS", "help": "Index the bundled demo corpus on start."})
    openie: str = field(metadata={"env": "RAGSCOPE_OPENIE", "help": "HippoRAG OpenIE: spacy (fast, local) | llm."})
    model_cache: Path = field(metadata={"env": "RAGSCOPE_MODEL_CACHE", "help": "Converted model weights (default HOME/models)."})
    llm_engine: str = field(metadata={"env": "RAGSCOPE_LLM_ENGINE",
                                      "help": "Local model: batched (concurrent calls share decode steps) | direct "
                                              "(one call at a time) | ct2 (CTranslate2 int8 on CPU, opt-in)."})
    engine_max_batch: int = field(metadata={"env": "RAGSCOPE_ENGINE_MAX_BATCH",
                                            "help": "Requests the batched engine decodes together; more wait."})
    engine_kv_blocks: int = field(metadata={"env": "RAGSCOPE_ENGINE_KV_BLOCKS",
                                            "help": "KV cache of the batched engine, in blocks of 64 tokens."})
    engine_batch_tokens: int = field(metadata={"env": "RAGSCOPE_ENGINE_BATCH_TOKENS",
                                               "help": "Most tokens in one forward pass (prompts prefill in chunks)."})
    engine_cuda_graph: str = field(metadata={"env": "RAGSCOPE_ENGINE_CUDA_GRAPH",
                                             "help": "GPU only: replay CUDA graphs in the batched engine: auto | on | off."})
    engine_attention: str = field(metadata={"env": "RAGSCOPE_ENGINE_ATTENTION",
                                            "help": "Batched engine attention: auto (varlen on CPU, and on CUDA where "
                                                    "torch has the kernel) | sdpa | varlen."})
    openai_timeout: float = field(metadata={"env": "RAGSCOPE_OPENAI_TIMEOUT",
                                            "help": "Seconds to wait for an OpenAI-compatible server's reply."})
    otlp_endpoint: str = field(metadata={"env": "RAGSCOPE_OTLP_ENDPOINT",
                                         "help": "OTLP/HTTP collector (e.g. Phoenix, http://127.0.0.1:6006): "
                                                 "every run is sent to it as OpenInference spans; empty = off."})
    retro_ner: str = field(metadata={"env": "RAGSCOPE_RETRO_NER",
                                     "help": "RetroRAG's entity finder: spacy (named entities, where spaCy's model "
                                             "is installed) | off (capitalised runs of words alone)."})

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read every setting from the environment, with keyword overrides for tests."""
        home = Path(str(overrides.pop("home", None) or _env("RAGSCOPE_HOME", ".ragscope"))).expanduser()
        values: dict[str, object] = {
            "home": home,
            "db_url": _env("RAGSCOPE_DB_URL", f"sqlite:///{home / 'ragscope.db'}"),
            "chroma_path": Path(_env("RAGSCOPE_CHROMA_PATH", str(home / "chroma"))),
            "chroma_host": _env("RAGSCOPE_CHROMA_HOST", ""),
            "chroma_port": int(_env("RAGSCOPE_CHROMA_PORT", "8000")),
            "embedder": _env("RAGSCOPE_EMBEDDER", DEFAULT_EMBEDDER),
            "embedder_precision": _env("RAGSCOPE_EMBEDDER_PRECISION", "auto"),
            "llm_backend": _env("RAGSCOPE_LLM_BACKEND", "local"),
            "llm_model": _env("RAGSCOPE_LLM_MODEL", DEFAULT_LLM),
            "llm_device": _env("RAGSCOPE_LLM_DEVICE", "auto"),
            "llm_precision": _env("RAGSCOPE_LLM_PRECISION", "auto"),
            "openai_base_url": _env("RAGSCOPE_OPENAI_BASE_URL", "http://localhost:8000/v1"),
            "openai_api_key": _env("RAGSCOPE_OPENAI_API_KEY", "not-needed"),
            "max_file_mb": float(_env("RAGSCOPE_MAX_FILE_MB", "20")),
            "max_files": int(_env("RAGSCOPE_MAX_FILES", "50")),
            "max_user_mb": float(_env("RAGSCOPE_MAX_USER_MB", "100")),
            "max_question_chars": int(_env("RAGSCOPE_MAX_QUESTION_CHARS", "2000")),
            "max_run_tokens": int(_env("RAGSCOPE_MAX_RUN_TOKENS", "60000")),
            "max_run_steps": int(_env("RAGSCOPE_MAX_RUN_STEPS", "100")),
            "max_runs_per_user": int(_env("RAGSCOPE_MAX_RUNS_PER_USER", "10")),
            "single_user": _env("RAGSCOPE_SINGLE_USER", "0") not in ("0", "false", "no"),
            "chunk_words": int(_env("RAGSCOPE_CHUNK_WORDS", "180")),
            "chunk_overlap": int(_env("RAGSCOPE_CHUNK_OVERLAP", "30")),
            "demo_corpus": _env("RAGSCOPE_DEMO_CORPUS", "1") not in ("0", "false", "no"),
            "openie": _env("RAGSCOPE_OPENIE", "spacy"),
            "model_cache": Path(_env("RAGSCOPE_MODEL_CACHE", str(home / "models"))).expanduser(),
            "llm_engine": _env("RAGSCOPE_LLM_ENGINE", "batched"),
            "engine_max_batch": int(_env("RAGSCOPE_ENGINE_MAX_BATCH", "16")),
            "engine_kv_blocks": int(_env("RAGSCOPE_ENGINE_KV_BLOCKS", "256")),
            "engine_batch_tokens": int(_env("RAGSCOPE_ENGINE_BATCH_TOKENS", "512")),
            "engine_cuda_graph": _env("RAGSCOPE_ENGINE_CUDA_GRAPH", "auto"),
            "engine_attention": _env("RAGSCOPE_ENGINE_ATTENTION", "auto"),
            "openai_timeout": float(_env("RAGSCOPE_OPENAI_TIMEOUT", "120")),
            "otlp_endpoint": _env("RAGSCOPE_OTLP_ENDPOINT", ""),
            "retro_ner": _env("RAGSCOPE_RETRO_NER", "spacy"),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def documented() -> list[tuple[str, str]]:
    """(variable, help) for every setting, for `app.py --help` (docs/make_settings.py writes docs/settings.md)."""
    return [(f.metadata["env"], f.metadata["help"]) for f in fields(Settings)]


# transformers' switch (read from the environment) that lets SDPA read grouped K/V heads under a mask
SDPA_FORCE_GQA = "TRANSFORMERS_SDPA_FORCE_GQA"


def let_sdpa_read_grouped_kv_heads() -> bool:
    """Turn transformers' SDPA_FORCE_GQA switch on unless the user set it (process-wide; the library reads it from
    the environment, so this is where it is written); True when it is on."""
    os.environ.setdefault(SDPA_FORCE_GQA, "1")
    return os.environ[SDPA_FORCE_GQA] == "1"
