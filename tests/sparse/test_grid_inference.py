"""Colorings that find the grid in the pattern itself: a flat or interleaved state gets the shaped layout's colors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import jacx.sparse
from jacx.sparse._compress import _collisions
from jacx.sparse._lattice import grid_shapes
from jacx.sparse.problems import LAYOUTS, brusselator_2d, stencil_3d


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_grid, colors", [(32, 8), (48, 6), (64, 8), (96, 6), (128, 8)])  # 6 when 6 | N, else 8
def test_brusselator_colors_do_not_depend_on_the_layout(layout, n_grid, colors):
    f, x = brusselator_2d(n_grid, layout=layout)
    jac = jacx.sparse.jacobian(f, x)  # from the function alone: no shape hint
    assert jac.n_colors == colors
    assert not _collisions(jac.sparsity, jac.coloring.colors, jac.n_colors, "column")
    assert jac.sparsity.nnz == 6 * x.size


@pytest.mark.parametrize("layout", LAYOUTS)
def test_brusselator_sparse_equals_dense_on_every_layout(layout):
    f, x = brusselator_2d(32, layout=layout)
    jac = jacx.sparse.jacobian(f, x)
    dense = jax.jacfwd(lambda v: jnp.ravel(f(v)))(x).reshape(x.size, x.size)
    np.testing.assert_allclose(np.asarray(jac(x).todense()), np.asarray(dense), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jac.to_scipy(x).toarray(), np.asarray(dense), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_grid", [12, 20])
def test_flat_3d_seven_point_stencil_gets_seven_colors(n_grid):
    f, x = stencil_3d(n_grid)  # zero boundary values, over a flat vector: the lattice optimum is 7
    jac = jacx.sparse.jacobian(f, x)
    assert jac.n_colors == 7
    assert not _collisions(jac.sparsity, jac.coloring.colors, jac.n_colors, "column")


def test_randomly_numbered_3d_stencil_gets_seven_colors():
    f, x = stencil_3d(10)
    perm = jnp.asarray(np.random.default_rng(3).permutation(x.size))
    inv = jnp.argsort(perm)
    g = lambda v: f(v[inv])[perm]
    jac = jacx.sparse.jacobian(g, x[perm])
    assert jac.n_colors == 7 and "from the graph" in jac.coloring.method
    dense = jax.jacfwd(g)(x[perm])
    np.testing.assert_allclose(np.asarray(jac(x[perm]).todense()), np.asarray(dense), rtol=1e-5, atol=1e-5)


def test_grid_shapes_recovers_a_row_major_grid_and_bands_stay_fast():
    n_grid = 10
    idx = np.arange(2 * n_grid * n_grid).reshape(2, n_grid, n_grid)
    neighbours = [idx, np.roll(idx, 1, 1), np.roll(idx, -1, 1), np.roll(idx, 1, 2), np.roll(idx, -1, 2), idx[::-1]]
    rows = np.repeat(idx.ravel(), len(neighbours))
    cols = np.stack(neighbours, axis=-1).ravel()
    p = sp.csr_array((np.ones(len(rows), bool), (rows, cols)), shape=(idx.size, idx.size))
    assert (2, n_grid, n_grid) in grid_shapes(p)
    n = 100_000  # a band: the flat numbering is already optimal, so no grid shape is inferred (that costs ~0.5 s)
    band = sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr").astype(bool)
    colors = jacx.sparse.color_columns(band)
    assert colors.n_colors == 3 and colors.method == f"lattice({n},)"
