"""A HippoRAG index on disk: the graph as gzipped JSON, phrase embeddings as .npy, the OpenIE cache gzipped."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.hipporag.graph import KnowledgeGraph
from retrieval.hipporag.openie import ExtractionCache

GRAPH_FILE = "hipporag.json.gz"
EMBEDDINGS_FILE = "phrase_embeddings.npy"
CACHE_FILE = "extractions.json.gz"
FORMAT_VERSION = 1


def write_index(target: Path, meta: dict[str, Any], embeddings: np.ndarray, cache: ExtractionCache | None) -> None:
    """Write the graph file (`meta`, with the graph's JSON inside), the embeddings and, unless None, the cache;
    each file is replaced atomically."""
    target.mkdir(parents=True, exist_ok=True)
    _write_atomic(target / GRAPH_FILE, gzip.compress(json.dumps(meta).encode(), compresslevel=3))
    tmp = target / (EMBEDDINGS_FILE + ".tmp.npy")
    np.save(tmp, embeddings)
    os.replace(tmp, target / EMBEDDINGS_FILE)
    if cache is not None:
        _write_atomic(target / CACHE_FILE, gzip.compress(json.dumps(cache.to_json()).encode(), compresslevel=3))


def read_index(folder: Path, dim: int) -> tuple[dict[str, Any], KnowledgeGraph]:
    """The saved settings (`meta`) and the graph of an index folder; `dim` (0: any) must match the embeddings."""
    meta = json.loads(gzip.decompress((folder / GRAPH_FILE).read_bytes()))
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"unsupported HippoRAG index format {meta.get('version')!r} in {folder}")
    embeddings = np.load(folder / EMBEDDINGS_FILE)
    if embeddings.size and dim and embeddings.shape[1] != dim:
        raise ValueError(f"index in {folder} was built with {meta['embedder']!r} (dim {embeddings.shape[1]}), "
                         f"not a {dim}-dim embedder")
    return meta, KnowledgeGraph.from_json(meta["graph"], embeddings)


def read_cache(path: Path | None) -> ExtractionCache:
    """The OpenIE cache written by `write_index` (empty when there is no file)."""
    data = json.loads(gzip.decompress(path.read_bytes())) if path else {}
    return ExtractionCache.from_json(data)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
