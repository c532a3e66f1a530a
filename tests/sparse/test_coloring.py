"""Colorings: exact color counts on the benchmark problems, validity of every ordering, compress/decompress."""

import numpy as np
import pytest
import scipy.sparse as sp

import jacx.sparse as js
from jacx.sparse.problems import (
    arrow,
    broyden_banded,
    broyden_tridiagonal,
    brusselator_2d,
    conv_layer,
)


def _brusselator_pattern(n_grid):
    """Hand-built pattern: u_ij and v_ij depend on their own field's 5-point periodic stencil and the other field."""
    idx = np.arange(2 * n_grid * n_grid).reshape(2, n_grid, n_grid)
    rows, cols = [], []
    for f in range(2):
        for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
            rows.append(idx[f].ravel())
            cols.append(np.roll(idx[f], (-di, -dj), axis=(0, 1)).ravel())
        rows.append(idx[f].ravel())
        cols.append(idx[1 - f].ravel())
    n = idx.size
    return sp.csr_array((np.ones(6 * n, bool), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


@pytest.mark.parametrize("n_grid, colors", [(32, 8), (48, 6), (64, 8), (96, 6), (128, 8)])
def test_brusselator_pattern_and_colors(n_grid, colors):
    f, x = brusselator_2d(n_grid)
    p = js.sparsity(f, x)
    assert (p != _brusselator_pattern(n_grid)).nnz == 0
    c = js.color_columns(p, shape=x.shape)
    assert c.n_colors == colors
    js.check_coloring(p, c)
    r = js.color_rows(p, shape=x.shape)
    assert r.n_colors == colors
    js.check_coloring(p, r)


@pytest.mark.parametrize("make, colors, missing", [(broyden_tridiagonal, 3, 2), (broyden_banded, 7, 16)])
@pytest.mark.parametrize("n", [10_000, 100_000])
def test_banded_problems_reach_the_lower_bound(make, colors, missing, n):
    f, x = make(n)
    p = js.sparsity(f, x)
    assert p.nnz == colors * n - missing  # the band, less its corners
    c = js.color_columns(p, shape=x.shape)
    assert c.n_colors == colors == np.diff(p.indptr).max()
    js.check_coloring(p, c)


def test_broyden_banded_pattern_is_the_band():
    f, x = broyden_banded(50)
    expected = sum(sp.eye_array(50, k=k) for k in range(-5, 2)) != 0
    assert (js.sparsity(f, x) != expected).nnz == 0


def test_arrow_needs_three_products():
    f, x = arrow(500)
    p = js.sparsity(f, x)
    assert js.color_columns(p).n_colors == 500
    assert js.color_rows(p).n_colors == 500
    bc = js.color_bidirectional(p)
    assert bc.n_colors <= 3 and bc.is_valid(p)
    jac = js.jacobian(f, x)
    assert jac.mode == "bidirectional" and jac.n_colors <= 3


@pytest.mark.parametrize("ordering", js.ORDERINGS)
def test_every_ordering_gives_a_valid_coloring(ordering):
    rng = np.random.default_rng(3)
    p = sp.random_array((80, 60), density=0.06, rng=rng, format="csr") != 0
    c = js.color_columns(p, orderings=(ordering,))
    js.check_coloring(p, c)
    assert np.diff(p.indptr).max() <= c.n_colors < 60
    r = js.color_rows(p, orderings=(ordering,))
    js.check_coloring(p, r)


def test_compress_decompress_roundtrip():
    rng = np.random.default_rng(0)
    p = sp.random_array((40, 30), density=0.1, rng=rng, format="csr")
    j = p.toarray()
    for c in (js.color_columns(j != 0), js.color_rows(j != 0)):
        back = c.decompress(c.compress(j), j != 0)
        np.testing.assert_array_equal(back.toarray(), j)
        assert len(c.groups) == c.n_colors and sum(len(g) for g in c.groups) == len(c.colors)


def test_bicoloring_roundtrip():
    j = np.eye(7) * 2.0
    j[0, :] = np.arange(1, 8)
    j[:, 3] = -np.arange(1, 8)
    bc = js.color_bidirectional(j != 0)
    fwd = j @ bc.forward.seeds()
    rev = bc.reverse.seeds().T @ j
    np.testing.assert_array_equal(bc.decompress(fwd, rev, j != 0).toarray(), j)


def test_invalid_coloring_is_reported():
    p = np.array([[1, 1, 0], [0, 1, 1]], bool)
    bad = js.Coloring(np.array([0, 0, 1]), 2, "column")
    assert not bad.is_valid(p)
    with pytest.raises(js.InvalidColoringError, match="collide"):
        js.check_coloring(p, bad)
    with pytest.raises(js.InvalidColoringError, match="expected 3"):
        js.check_coloring(p, js.Coloring(np.array([0, 1]), 2, "column"))
    with pytest.raises(ValueError, match="ordering"):
        js.color_columns(p, orderings=("nope",))


def test_conv_layer_pattern_and_colors():
    channels, length, width = 4, 64, 5
    f, x = conv_layer(length, channels=channels, width=width)
    p = js.sparsity(f, x)
    expected = np.zeros((channels, length, channels, length), bool)
    for l_out in range(length):
        lo, hi = max(0, l_out - width // 2), min(length, l_out + width // 2 + 1)
        expected[:, l_out, :, lo:hi] = True
    np.testing.assert_array_equal(p.toarray(), expected.reshape(channels * length, -1))
    c = js.color_columns(p, shape=x.shape)
    assert c.n_colors == channels * width  # the lower bound: one interior row holds 20 nonzeros
    js.check_coloring(p, c)


def _sequential_first_fit(g, order):
    """Reference: the textbook greedy loop (each vertex takes the smallest color its colored neighbours lack)."""
    colors = -np.ones(g.shape[0], dtype=np.int64)
    for v in order:
        used = set(colors[g.indices[g.indptr[v]:g.indptr[v + 1]]].tolist())
        c = 0
        while c in used:
            c += 1
        colors[v] = c
    return colors


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_greedy_equals_the_sequential_loop(seed):
    from jacx.sparse._coloring import _conflict_graph, _greedy

    rng = np.random.default_rng(seed)
    m, n = rng.integers(20, 400, size=2)
    p = sp.csr_array(sp.random_array((m, n), density=rng.uniform(0.005, 0.1), rng=rng, format="csr") != 0)
    g = _conflict_graph(p)
    band = sp.csr_array(sp.diags_array([1.0] * 5, offsets=range(-2, 3), shape=(300, 300)) != 0)  # long chains
    for graph in (g, _conflict_graph(band)):
        k = graph.shape[0]
        degree = np.diff(graph.indptr)
        for order in (np.arange(k), rng.permutation(k), np.argsort(-degree, kind="stable")):
            np.testing.assert_array_equal(_greedy(graph, order), _sequential_first_fit(graph, order))


def test_bidirectional_parts_stop_at_the_lower_bound():
    # two dense rows and two dense columns over a diagonal: splitting off the dense rows leaves rows of 3
    # nonzeros (diagonal + the two dense columns), so 2 VJPs + 3 JVPs, the lower bound of either split
    n = 300
    j = np.eye(n, dtype=bool)
    j[:2, :] = True
    j[:, -2:] = True
    bc = js.color_bidirectional(j)
    assert bc.is_valid(j) and bc.n_colors == 5
    # only dense rows: the forward part is the diagonal (one color), the reverse part the two rows (two)
    k = np.eye(n, dtype=bool)
    k[:2, :] = True
    bk = js.color_bidirectional(k)
    assert bk.is_valid(k) and (bk.forward.n_colors, bk.reverse.n_colors) == (1, 2)
