"""Build the LLM the settings ask for; cheap to import (backends are imported only when built)."""

from __future__ import annotations

from collections.abc import Callable

from llm.base import LLM
from settings import DEFAULT_LLM, Settings

BACKENDS = ("local", "openai")
ENGINES = ("batched", "direct", "ct2")


def make_llm(settings: Settings, progress: Callable[[str], None] | None = None) -> LLM:
    """The LLM for `settings.llm_backend` ("local" or "openai"), loaded now."""
    backend = settings.llm_backend.strip().lower()
    if backend == "local":
        return _make_local(settings, progress)
    if backend == "openai":
        from llm.openai_compat import OpenAICompatLLM

        # The bundled default names no server model: ask the server which one it serves instead.
        model = None if settings.llm_model == DEFAULT_LLM else settings.llm_model
        return OpenAICompatLLM(settings.openai_base_url, model, settings.openai_api_key,
                               timeout=settings.openai_timeout)
    raise ValueError(f"unknown LLM backend {settings.llm_backend!r}; valid backends: {', '.join(BACKENDS)}")


def _make_local(settings: Settings, progress: Callable[[str], None] | None, engine: str | None = None) -> LLM:
    """The bundled default model, a hub id, or a local folder: behind the batching engine, or direct."""
    engine = (engine or settings.llm_engine).strip().lower()
    if engine not in ENGINES:
        raise ValueError(f"unknown LLM engine {engine!r}; valid engines: {', '.join(ENGINES)}")
    model: str = settings.llm_model
    if model == DEFAULT_LLM:
        from llm.bundled import ensure_bundled_model

        folder = ensure_bundled_model(settings.model_cache, progress=progress)
        model = str(folder)
    if engine == "ct2":
        return _make_ct2(settings, model, progress)
    if progress is not None:
        progress(f"loading {settings.llm_model}")
    from llm.local import TransformersLLM

    llm = TransformersLLM(model, device=settings.llm_device, variant=settings.llm_precision)
    llm.name = f"local:{settings.llm_model}"
    if engine == "direct":
        return llm
    from llm.engine import EngineConfig, EngineLLM

    config = EngineConfig(max_batch=settings.engine_max_batch, kv_blocks=settings.engine_kv_blocks,
                          max_batch_tokens=settings.engine_batch_tokens,
                          cuda_graph=cuda_graph_setting(settings.engine_cuda_graph, llm.device),
                          attention=attention_setting(settings.engine_attention, llm.device))
    return EngineLLM(llm, config)


def attention_setting(value: str, device: str) -> str:
    """`auto` picks the varlen path, in which each request reads only its own cache instead of a masked packed
    batch: torch's varlen FlashAttention on CUDA where this torch has it (docs/notebook.md, the GPU table), and
    on CPU per-request SDPA calls (at 8 requests 3.62x one at a time against 3.02x for the packed batch); the packed
    SDPA batch on a CUDA device without the kernel, where a loop over 64 requests would cost more than the mask."""
    from llm import attention

    key = value.strip().lower()
    if key == "auto":
        return "varlen" if attention.available(device) or not device.startswith("cuda") else "sdpa"
    if key not in ("sdpa", "varlen"):
        raise ValueError(f"RAGSCOPE_ENGINE_ATTENTION must be one of auto, sdpa, varlen; got {value!r}")
    return key


def cuda_graph_setting(value: str, device: str) -> bool | None:
    """`on` / `off` force CUDA graphs; `auto` turns them on for a CUDA device (on an H200 they made the engine 5x
    faster for one request and 2.2x for 64, docs/notebook.md) and leaves them off elsewhere."""
    choices = {"auto": device.startswith("cuda") or None, "on": True, "off": False}
    key = value.strip().lower()
    if key not in choices:
        raise ValueError(f"RAGSCOPE_ENGINE_CUDA_GRAPH must be one of auto, on, off; got {value!r}")
    return choices[key]


def _make_ct2(settings: Settings, model: str, progress: Callable[[str], None] | None) -> LLM:
    """CTranslate2 on CPU: int8 unless RAGSCOPE_LLM_PRECISION=fp32; the model folder is converted once."""
    from pathlib import Path

    from llm.ctranslate import CT2LLM, convert

    compute = {"auto": "int8", "int8": "int8", "fp32": "float32"}.get(settings.llm_precision.strip().lower())
    if compute is None:
        raise ValueError(f"RAGSCOPE_LLM_ENGINE=ct2 takes RAGSCOPE_LLM_PRECISION auto, int8 or fp32, "
                         f"not {settings.llm_precision!r}")
    folder = Path(model)
    if not folder.is_dir():
        raise ValueError(f"RAGSCOPE_LLM_ENGINE=ct2 needs a local model folder, not {model!r}")
    out = convert(folder, settings.model_cache / f"{folder.name}-ct2-{compute}", compute, progress)
    llm = CT2LLM(out, folder, compute=compute)
    llm.name = f"local:{settings.llm_model}:ct2-{compute}"
    return llm


def make_engine(settings: Settings, progress: Callable[[str], None] | None = None) -> LLM:
    """The local model behind the batching engine, whatever `llm_backend` says (for `app.py worker`)."""
    return _make_local(settings, progress, engine="batched")
