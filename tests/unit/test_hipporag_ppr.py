"""Personalized PageRank against networkx on small weighted graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from retrieval.hipporag.ppr import personalized_pagerank, transition_matrix


def _random_graph(directed: bool, n: int = 12, p: float = 0.25, seed: int = 0) -> nx.Graph:
    rng = np.random.default_rng(seed)
    g = nx.DiGraph() if directed else nx.Graph()
    g.add_nodes_from(range(n))
    for i in range(n):
        for j in range(n):
            if (directed or i < j) and i != j and rng.random() < p:
                g.add_edge(i, j, weight=float(rng.uniform(0.1, 3.0)))
    return g


def _compare(g: nx.Graph, personalization: dict[int, float], damping: float) -> None:
    nodes = list(g.nodes)
    adjacency = nx.to_scipy_sparse_array(g, nodelist=nodes, weight="weight", format="csr")
    reset = np.array([personalization.get(n, 0.0) for n in nodes])
    ours = personalized_pagerank(transition_matrix(adjacency), reset, damping=damping, tol=1e-12, max_iter=1000)
    theirs = nx.pagerank(g, alpha=damping, personalization=personalization, weight="weight", tol=1e-13,
                         max_iter=10_000)
    np.testing.assert_allclose(ours, [theirs[n] for n in nodes], atol=1e-6)
    assert ours.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("damping", [0.5, 0.15, 0.85])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_networkx_weighted(directed: bool, damping: float, seed: int) -> None:
    g = _random_graph(directed, seed=seed)
    _compare(g, {0: 1.0, 3: 0.5, 7: 2.0}, damping)


def test_matches_networkx_with_dangling_and_isolated_nodes() -> None:
    g = nx.DiGraph()
    g.add_weighted_edges_from([(0, 1, 1.0), (1, 2, 2.0), (2, 0, 0.5), (2, 3, 1.0), (4, 3, 3.0)])
    g.add_node(5)  # isolated; 3 and 5 are dangling
    _compare(g, {0: 1.0, 5: 1.0}, 0.5)
    _compare(g, {3: 1.0}, 0.5)


def test_matches_networkx_undirected_with_self_loop() -> None:
    g = nx.Graph()
    g.add_weighted_edges_from([(0, 1, 2.0), (1, 2, 1.0), (2, 2, 4.0), (2, 3, 0.5), (3, 0, 1.5)])
    _compare(g, {1: 1.0}, 0.5)


def test_transition_matrix_is_column_stochastic_except_dangling() -> None:
    a = sp.csr_matrix(np.array([[0, 2, 2], [1, 0, 0], [0, 0, 0]], dtype=float))
    m = transition_matrix(a).toarray()
    np.testing.assert_allclose(m.sum(axis=0), [1.0, 1.0, 0.0])
    assert m[1, 0] == pytest.approx(0.5) and m[0, 1] == pytest.approx(1.0)


def test_reset_is_normalised_and_validated() -> None:
    m = transition_matrix(sp.csr_matrix(np.array([[0, 1.0], [1.0, 0]])))
    np.testing.assert_allclose(personalized_pagerank(m, np.array([2.0, 0.0])),
                               personalized_pagerank(m, np.array([1.0, 0.0])))
    with pytest.raises(ValueError):
        personalized_pagerank(m, np.zeros(2))
    with pytest.raises(ValueError):
        personalized_pagerank(m, np.array([1.0, -1.0]))
    with pytest.raises(ValueError):
        personalized_pagerank(m, np.ones(3))


def test_graph_without_edges_returns_reset() -> None:
    m = transition_matrix(sp.csr_matrix((4, 4)))
    np.testing.assert_allclose(personalized_pagerank(m, np.array([1.0, 1.0, 0, 0])), [0.5, 0.5, 0, 0])
