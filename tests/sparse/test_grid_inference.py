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
from jacx.sparse.problems import brusselator_2d


def _layouts(n_grid):
    f, x0 = brusselator_2d(n_grid)
    shape = x0.shape
    return {
        "shaped": (f, x0),
        "flat": (lambda v: f(v.reshape(shape)).ravel(), x0.ravel()),
        "interleaved": (lambda v: jnp.moveaxis(f(jnp.moveaxis(v, -1, 0)), 0, -1), jnp.moveaxis(x0, 0, -1)),
    }


@pytest.mark.parametrize("layout", ["shaped", "flat", "interleaved"])
@pytest.mark.parametrize("n_grid, colors", [(32, 8), (48, 6)])  # 6 when 6 divides N, at most 8 otherwise
def test_brusselator_colors_do_not_depend_on_the_layout(layout, n_grid, colors):
    f, x = _layouts(n_grid)[layout]
    jac = jacx.sparse.jacobian(f, x)  # from the function alone: no shape hint
    assert jac.n_colors <= colors
    assert not _collisions(jac.sparsity, jac.coloring.colors, jac.n_colors, "column")
    if n_grid == 32:  # sparse == dense AD (2048 x 2048)
        dense = jax.jacfwd(lambda v: jnp.ravel(f(v)))(x).reshape(x.size, x.size)
        np.testing.assert_allclose(np.asarray(jac(x).todense()), np.asarray(dense), rtol=1e-5, atol=1e-5)


def test_flat_3d_seven_point_stencil_gets_seven_colors():
    N = 12

    def f(v):
        u = jnp.pad(v.reshape(N, N, N), 1)
        c = u[1:-1, 1:-1, 1:-1]
        lap = (u[2:, 1:-1, 1:-1] + u[:-2, 1:-1, 1:-1] + u[1:-1, 2:, 1:-1] + u[1:-1, :-2, 1:-1]
               + u[1:-1, 1:-1, 2:] + u[1:-1, 1:-1, :-2] - 6 * c)
        return (lap + c**2).ravel()

    jac = jacx.sparse.jacobian(f, jnp.linspace(0.1, 1.0, N**3))
    assert jac.n_colors == 7


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
