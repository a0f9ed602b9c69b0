"""Personalized PageRank by power iteration on a sparse transition matrix (HippoRAG's graph search).

Convention (same as networkx's `alpha` and igraph's `damping`, which HippoRAG passes as 0.5): `damping`
is the probability of following an edge at each step; with probability `1 - damping` the walk jumps
back to a node drawn from the reset (personalization) distribution. A dangling node (no out-edges)
sends its mass to the reset distribution, as networkx does with `dangling=None`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def transition_matrix(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """Column-stochastic transition matrix M (CSR) with M[j, i] = A[i, j] / sum_k A[i, k]; dangling columns are 0.

    Build it once per graph: one PPR step is then the CSR product `M @ x`. An undirected graph is a
    symmetric adjacency; a self-loop counts once, as in `networkx.to_scipy_sparse_array`.
    """
    a = sp.csr_matrix(adjacency, dtype=np.float64)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square, got {a.shape}")
    a.eliminate_zeros()
    out = np.asarray(a.sum(axis=1)).ravel()
    inv = np.zeros_like(out)
    nz = out != 0
    inv[nz] = 1.0 / out[nz]
    stochastic = sp.diags(inv) @ a  # row-stochastic P
    m = sp.csr_matrix(stochastic.T)
    m.sort_indices()
    return m


def personalized_pagerank(
    matrix: sp.csr_matrix,
    reset: np.ndarray,
    damping: float = 0.5,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> np.ndarray:
    """Stationary distribution of the walk that follows an edge with probability `damping`, else jumps to `reset`.

    `matrix` comes from `transition_matrix`; `reset` is any non-negative vector (normalised here).
    Iterates x <- damping * (M x + dangling_mass * p) + (1 - damping) * p from x = p until the L1
    change is below `tol`. Matches `networkx.pagerank(G, alpha=damping, personalization=reset)`.
    """
    n = matrix.shape[0]
    p = np.asarray(reset, dtype=np.float64).ravel()
    if p.shape[0] != n:
        raise ValueError(f"reset has {p.shape[0]} entries for a {n}-node graph")
    if np.any(p < 0):
        raise ValueError("reset weights must be non-negative")
    total = float(p.sum())
    if total <= 0:
        raise ValueError("reset weights must not all be zero")
    p = p / total
    if not 0.0 <= damping < 1.0:
        raise ValueError("damping must be in [0, 1)")
    x = p.copy()
    for _ in range(max_iter):
        new = matrix @ x
        dangling_mass = float(x.sum() - new.sum())  # mass sitting on nodes without out-edges
        new *= damping
        new += (damping * dangling_mass + 1.0 - damping) * p
        err = float(np.abs(new - x).sum())
        x = new
        if err < tol:
            break
    return x
