"""Locality-sensitive hashing of thoughts, as in TiM (Liu et al., 2023): F(x) = argmax([xR; -xR]).

R is a random d x b/2 Gaussian matrix, so each of the b buckets is one signed random direction and a
vector lands in the bucket of the direction it points at most (a cross-polytope-style hash). Several
independent tables (each its own R) raise recall: a query is compared with the thoughts that share a
bucket with it in any table. Multi-probe (`probes` > 1) also looks in each table's next-best buckets.
Candidates may also be required to share a bucket in at least `min_shared` tables (collision counting:
near neighbours collide in many tables, unrelated thoughts in few), which scores fewer thoughts for the same
recall. Pure functions of numpy arrays; the matrices are kept with the memory so buckets survive restarts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LSHParams:
    """Shape of a hash: vector size, buckets per table (even), tables, and the seed of the matrices."""

    dim: int
    buckets: int = 16
    tables: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.buckets < 2 or self.buckets % 2:
            raise ValueError(f"buckets must be an even number >= 2, got {self.buckets}")
        if self.tables < 1 or self.dim < 1:
            raise ValueError("tables and dim must be >= 1")


def projections(params: LSHParams) -> np.ndarray:
    """The seeded Gaussian matrices R, shape (tables, dim, buckets/2), float32."""
    rng = np.random.default_rng(params.seed)
    return rng.standard_normal((params.tables, params.dim, params.buckets // 2)).astype(np.float32)


def bucket_scores(vectors: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """[xR; -xR] for every table: shape (n, tables, buckets)."""
    x = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    proj = np.einsum("nd,tdh->nth", x, matrices)
    return np.concatenate([proj, -proj], axis=2)


def hash_vectors(vectors: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """F(x) = argmax([xR; -xR]) per table: bucket ids of shape (n, tables)."""
    return bucket_scores(vectors, matrices).argmax(axis=2).astype(np.int32)


def probe_buckets(vector: np.ndarray, matrices: np.ndarray, probes: int = 1) -> np.ndarray:
    """The `probes` best buckets of one vector in each table, best first: shape (tables, probes)."""
    scores = bucket_scores(vector, matrices)[0]
    probes = max(1, min(probes, scores.shape[1]))
    return np.argsort(-scores, axis=1, kind="stable")[:, :probes].astype(np.int32)


def cosine_top_k(query: np.ndarray, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores) of the k unit-norm rows most cosine-similar to `query`, best first."""
    if len(vectors) == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32).ravel()
    q = q / (np.linalg.norm(q) or 1.0)
    # einsum, not BLAS: a multi-threaded BLAS matrix-vector product took 12-14 ms for 2,350 x 384 on a loaded 2-core
    # machine (0.06 ms on one thread); einsum runs in the calling thread (0.13 ms)
    scores = np.einsum("nd,d->n", vectors, q)
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    order = top[np.argsort(-scores[top], kind="stable")]
    return order, scores[order].astype(np.float32)


class BucketIndex:
    """Bucket ids (n, tables) -> rows, as CSR arrays: per table the rows sorted by bucket and each bucket's start.

    `order[t, starts[t, b]:starts[t, b + 1]]` are the rows in bucket b of table t. Candidate lookup gathers
    every probed slice with one vectorised index (no Python loop over rows or sets), then counts how many
    probed buckets each row shares with the query.
    """

    def __init__(self, buckets: np.ndarray, n_buckets: int) -> None:
        buckets = np.asarray(buckets)
        self.n, self.tables = buckets.shape
        self.n_buckets = n_buckets
        self.order = np.ascontiguousarray(np.argsort(buckets, axis=0, kind="stable").T, dtype=np.int32)  # (tables, n)
        edges = np.arange(n_buckets + 1)
        self.starts = np.stack([np.searchsorted(buckets[self.order[t], t], edges)
                                for t in range(self.tables)]).astype(np.int64)  # (tables, buckets + 1)

    def shared_counts(self, probe: np.ndarray) -> np.ndarray:
        """Rows in any probed bucket, one entry per (table, bucket) they share; `probe` is (tables, probes)."""
        tables = np.repeat(np.arange(self.tables), probe.shape[1])
        flat = probe.ravel()
        begin = self.starts[tables, flat] + tables * self.n  # offsets into order.ravel()
        length = self.starts[tables, flat + 1] - self.starts[tables, flat]
        total = int(length.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int32)
        shift = np.repeat(begin - np.concatenate([[0], np.cumsum(length)[:-1]]), length)
        return self.order.ravel()[np.arange(total) + shift]

    def candidates(self, probe: np.ndarray, min_shared: int = 1) -> np.ndarray:
        """Sorted rows sharing at least `min_shared` probed buckets with the query (1 = any: the plain union)."""
        hits = self.shared_counts(probe)
        if len(hits) == 0:
            return np.zeros(0, dtype=np.int64)
        counts = np.bincount(hits, minlength=self.n)
        return np.flatnonzero(counts >= max(1, min_shared))

    def occupancy(self) -> np.ndarray:
        """Rows per bucket in each table: shape (tables, buckets)."""
        return np.diff(self.starts, axis=1)


def lsh_top_k(query: np.ndarray, vectors: np.ndarray, index: BucketIndex, matrices: np.ndarray, k: int,
              probes: int = 1, min_shared: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """TiM's recall: the query's buckets, then cosine rank inside them; (rows, scores, rows scored).

    The candidates are gathered once and scored with one matrix-vector product. `min_shared` > 1 scores only
    thoughts that share a bucket with the query in at least that many tables (collision counting).
    """
    rows = index.candidates(probe_buckets(query, matrices, probes), min_shared)
    picked, scores = cosine_top_k(query, vectors[rows], k)
    return rows[picked], scores, len(rows)
