"""LSH: same vector same bucket, determinism, and recall of the true top-k against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from memory.lsh import BucketIndex, LSHParams, cosine_top_k, hash_vectors, lsh_top_k, probe_buckets, projections


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_hash_is_the_argmax_of_xr_and_minus_xr() -> None:
    params = LSHParams(dim=8, buckets=6, tables=1, seed=3)
    r = projections(params)
    x = _unit(np.random.default_rng(1).standard_normal((5, 8)))
    expected = np.concatenate([x @ r[0], -(x @ r[0])], axis=1).argmax(axis=1)
    assert hash_vectors(x, r)[:, 0].tolist() == expected.tolist()
    assert r.shape == (1, 8, 3)


def test_same_vector_same_bucket_and_scaling_does_not_move_it() -> None:
    r = projections(LSHParams(dim=32, buckets=16, tables=4, seed=0))
    x = _unit(np.random.default_rng(2).standard_normal((1, 32)))
    assert (hash_vectors(x, r) == hash_vectors(x.copy(), r)).all()
    assert (hash_vectors(x, r) == hash_vectors(3.0 * x, r)).all()
    assert (probe_buckets(x[0], r, 1)[:, 0] == hash_vectors(x, r)[0]).all()


def test_matrices_are_deterministic_per_seed() -> None:
    a = projections(LSHParams(dim=16, buckets=8, tables=2, seed=7))
    b = projections(LSHParams(dim=16, buckets=8, tables=2, seed=7))
    c = projections(LSHParams(dim=16, buckets=8, tables=2, seed=8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_odd_bucket_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="even"):
        LSHParams(dim=4, buckets=5)


def test_lsh_recalls_most_of_the_true_top_k_while_scoring_a_fraction() -> None:
    rng = np.random.default_rng(0)
    topics = _unit(rng.standard_normal((40, 64)))
    vectors = _unit(0.8 * topics[rng.integers(0, 40, 4000)] + 0.6 * _unit(rng.standard_normal((4000, 64))))
    params = LSHParams(dim=64, buckets=32, tables=8, seed=0)
    r = projections(params)
    index = BucketIndex(hash_vectors(vectors, r), params.buckets)
    assert index.occupancy().sum() == 4000 * 8
    recalls, scored = [], []
    for src in rng.choice(4000, 50, replace=False):
        q = _unit(0.9 * vectors[src] + 0.44 * _unit(rng.standard_normal(64)))
        exact, _ = cosine_top_k(q, vectors, 5)
        rows, scores, n = lsh_top_k(q, vectors, index, r, 5, probes=2)
        assert list(scores) == sorted(scores, reverse=True)
        recalls.append(len(set(rows) & set(exact)) / 5)
        scored.append(n / 4000)
    assert np.mean(recalls) >= 0.8
    assert np.mean(scored) <= 0.6


def test_candidates_match_a_brute_force_count_of_shared_buckets() -> None:
    rng = np.random.default_rng(4)
    vectors = _unit(rng.standard_normal((500, 24)))
    params = LSHParams(dim=24, buckets=8, tables=6, seed=1)
    r = projections(params)
    buckets = hash_vectors(vectors, r)
    index = BucketIndex(buckets, params.buckets)
    q = _unit(rng.standard_normal(24))
    probe = probe_buckets(q, r, 2)
    shared = np.array([sum(buckets[i, t] in probe[t] for t in range(6)) for i in range(500)])
    for m in (1, 2, 3):
        assert index.candidates(probe, m).tolist() == np.flatnonzero(shared >= m).tolist()
    rows, _, n = lsh_top_k(q, vectors, index, r, 5, probes=2, min_shared=3)
    assert n == int((shared >= 3).sum()) and set(rows) <= set(np.flatnonzero(shared >= 3))
