"""Unstructured patterns: never more colors than the best classic greedy ordering, and exact Jacobians.

The reference greedy colorings are written here from their textbook definitions (plain Python, independent of
jacx's vectorised implementation): columns are colored in order, each with the smallest color not used by a
column sharing a row with it (a distance-2 coloring of the column intersection graph).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import jacx.sparse as js
from jacx.sparse._compress import _collisions
from jacx.sparse.problems import mesh_laplacian, stencil_3d


def _neighbours(p: sp.csr_array) -> list[set[int]]:
    pt = sp.csr_array(p.T.tocsr())
    out = []
    for j in range(p.shape[1]):
        near: set[int] = set()
        for r in pt.indices[pt.indptr[j]:pt.indptr[j + 1]]:
            near.update(p.indices[p.indptr[r]:p.indptr[r + 1]].tolist())
        near.discard(j)
        out.append(near)
    return out


def _greedy(nb: list[set[int]], order: list[int]) -> int:
    color: dict[int, int] = {}
    for v in order:
        used = {color[u] for u in nb[v] if u in color}
        color[v] = next(k for k in range(len(nb) + 1) if k not in used)
    return max(color.values()) + 1


def _smallest_last(nb: list[set[int]]) -> list[int]:
    left = set(range(len(nb)))
    deg = {v: len(nb[v]) for v in left}
    removed = []
    while left:
        v = min(left, key=lambda u: (deg[u], u))
        left.remove(v)
        removed.append(v)
        for u in nb[v]:
            if u in left:
                deg[u] -= 1
    return removed[::-1]


def _incidence_degree(nb: list[set[int]]) -> list[int]:
    inc = [0] * len(nb)
    done: set[int] = set()
    order = []
    for _ in range(len(nb)):
        v = max((u for u in range(len(nb)) if u not in done), key=lambda u: (inc[u], -u))
        done.add(v)
        order.append(v)
        for u in nb[v]:
            inc[u] += 1
    return order


def classic_colors(p: sp.csr_array) -> dict[str, int]:
    nb = _neighbours(p)
    n = len(nb)
    return {
        "natural": _greedy(nb, list(range(n))),
        "largest_first": _greedy(nb, sorted(range(n), key=lambda v: (-len(nb[v]), v))),
        "smallest_last": _greedy(nb, _smallest_last(nb)),
        "incidence_degree": _greedy(nb, _incidence_degree(nb)),
    }


@pytest.mark.parametrize("n_points, seed", [(300, 0), (300, 1), (800, 2), (1500, 3)])
def test_delaunay_mesh_never_worse_than_the_classic_orderings(n_points, seed):
    f, x = mesh_laplacian(n_points, seed=seed)
    jac = js.jacobian(f, x, mode="forward")
    assert not _collisions(jac.sparsity, jac.coloring.colors, jac.n_colors, "column")
    best = min(classic_colors(jac.sparsity).values())
    assert jac.n_colors <= best


@pytest.mark.parametrize("shape", [(6, 7, 8), (5, 9, 4)])
def test_3d_stencil_with_boundaries_never_worse_than_the_classic_orderings(shape):
    idx = np.arange(int(np.prod(shape))).reshape(shape)

    def f(v):  # a 7-point stencil with zero boundary values on a box that is not a cube, over a flat vector
        u = jnp.pad(v.reshape(shape), 1)
        c = u[1:-1, 1:-1, 1:-1]
        return (u[2:, 1:-1, 1:-1] + u[:-2, 1:-1, 1:-1] + u[1:-1, 2:, 1:-1] + u[1:-1, :-2, 1:-1]
                + u[1:-1, 1:-1, 2:] + u[1:-1, 1:-1, :-2] - 6 * c + c**3).ravel()

    x = jnp.linspace(0.1, 1.0, idx.size)
    jac = js.jacobian(f, x, mode="forward")
    best = min(classic_colors(jac.sparsity).values())
    assert jac.n_colors <= best
    assert jac.n_colors == 7  # the lattice optimum
    np.testing.assert_allclose(np.asarray(jac(x).todense()), np.asarray(jax.jacfwd(f)(x)), rtol=1e-5, atol=1e-5)


def test_mesh_jacobian_equals_dense_ad_in_float64():
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        f, x = mesh_laplacian(400, seed=5)
        x = jnp.asarray(x, jnp.float64) + 0.25
        dense = np.asarray(jax.jacfwd(f)(x))
        for mode in ("auto", "forward", "reverse"):
            jac = js.jacobian(f, x, mode=mode)
            np.testing.assert_allclose(np.asarray(jac(x).todense()), dense, rtol=1e-12, atol=1e-12)
            assert (jac.sparsity.toarray() == (dense != 0)).all()  # the mesh graph, nothing more
    finally:
        jax.config.update("jax_enable_x64", old)


def test_stencil_3d_default_effort_at_a_hundred_thousand_unknowns_stays_exact():
    f, x = stencil_3d(46)  # n = 97,336
    jac = js.jacobian(f, x)
    assert jac.n_colors == 7
    v = jnp.asarray(np.random.default_rng(0).normal(size=x.size), x.dtype)
    ref = jax.jvp(f, (x,), (v,))[1]
    np.testing.assert_allclose(jac.to_scipy(x) @ np.asarray(v, np.float64), np.asarray(ref), rtol=1e-4, atol=1e-4)


def test_auto_mode_does_not_split_a_mesh_for_one_product():
    # a 20000-point Delaunay mesh has a few long rows: a split (dense rows by VJP) needs 16 products against 17
    # one-sided ones, but evaluates JVPs and VJPs and decompresses, which measured 1.3-1.6x slower
    f, x = mesh_laplacian(20000)
    jac = js.jacobian(f, x)
    assert jac.mode == "forward"
    bi = js.color_bidirectional(jac.sparsity)
    assert bi.n_colors < jac.n_colors  # the split exists, and is fewer products, but not worth it
