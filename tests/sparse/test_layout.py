"""The compressed BCOO layout (the products themselves, no decompression): values, pattern, flags, padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import jacx.sparse as js
from jacx.sparse.problems import broyden_banded, broyden_tridiagonal, brusselator_2d


def irregular(m=30, n=40, per_row=3, seed=0):
    """A non-square function with a random pattern: y_i = sum over its columns j of sin(x_j) x_j^2 + w_ij x_j."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(m), per_row)
    cols = np.concatenate([rng.choice(n, per_row, replace=False) for _ in range(m)])
    w = rng.normal(size=len(rows))

    cols_j, rows_j, w_j = jnp.asarray(cols), jnp.asarray(rows), jnp.asarray(w)  # immutable: f stays on the fast path

    def f(x):
        xc = x[cols_j]
        return jax.ops.segment_sum(jnp.sin(xc) * xc**2 + w_j * xc, rows_j, num_segments=m)

    expected = sp.csr_array((np.ones(len(rows), bool), (rows, cols)), shape=(m, n))
    return f, jnp.linspace(-1.0, 1.5, n), expected


def _dense(f, x):
    j = jax.jacfwd(lambda z: jnp.ravel(f(z)))(x)
    return np.asarray(j).reshape(j.shape[0], -1)


CASES = {
    "banded": lambda: (*broyden_banded(60), None),
    "tridiagonal": lambda: (*broyden_tridiagonal(50), None),
    "brusselator-6": lambda: (*brusselator_2d(12), None),  # 6 colors, 6 nonzeros per row: no padding
    "brusselator-8": lambda: (*brusselator_2d(8), None),  # 8 colors, 6 nonzeros per row: padding
    "irregular": irregular,
}


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("case", list(CASES))
def test_compressed_layout_equals_dense_ad(case, mode, monkeypatch, x64):
    from jacx.sparse import _prepared

    monkeypatch.setattr(_prepared, "_DIRECT_MAX_FILL", 4.0)  # use the compressed layout even with padding
    f, x, expected = CASES[case]()
    x = jnp.asarray(x, jnp.float64) + 0.1
    jac = js.jacobian(f, x, mode=mode)
    assert jac.layout == "compressed" and jac.mode == mode
    if expected is not None:
        assert (jac.sparsity != expected).nnz == 0
    m, n = jac.shape
    dense = _dense(f, x)
    out = jac(x)
    # the data are the products themselves: one entry per (product, row) forward, per (product, column) reverse
    assert out.nse == jac.n_colors * (m if mode == "forward" else n)
    np.testing.assert_allclose(np.asarray(out.todense()), dense, rtol=1e-12, atol=1e-12)
    idx = np.asarray(out.indices)
    pad = (idx[:, 0] == m) & (idx[:, 1] == n)
    inside = (idx[:, 0] < m) & (idx[:, 1] < n)
    assert (pad | inside).all()
    # every in-bounds index is a pattern entry and every pattern entry appears exactly once
    got = sp.csr_array((np.ones(inside.sum()), (idx[inside, 0], idx[inside, 1])), shape=(m, n))
    assert got.nnz == jac.sparsity.nnz == inside.sum() and (got.astype(bool) != jac.sparsity).nnz == 0
    assert out.unique_indices
    key = idx[:, 0].astype(np.int64) * (n + 1) + idx[:, 1]
    assert out.indices_sorted == bool((np.diff(key) > 0).all())
    if case == "brusselator-8" and mode == "forward":
        assert pad.sum() == 8 * m - jac.sparsity.nnz > 0
    # products with the BCOO ignore the padding
    rng = np.random.default_rng(1)
    v, u = rng.normal(size=n), rng.normal(size=m)
    np.testing.assert_allclose(np.asarray(out @ jnp.asarray(v)), dense @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out.T @ jnp.asarray(u)), dense.T @ u, rtol=1e-10, atol=1e-12)
    # conversion gives exactly the detected pattern, in canonical CSR form
    for a in (js.to_scipy(out), jac.to_scipy(x)):
        assert a.has_canonical_format
        np.testing.assert_array_equal(a.indptr, jac.sparsity.indptr)
        np.testing.assert_array_equal(a.indices, jac.sparsity.indices)
        np.testing.assert_allclose(a.toarray(), dense, rtol=1e-12, atol=1e-12)
    # values stay in CSR order of the pattern
    np.testing.assert_allclose(np.asarray(jac.values(x)), dense[jac.sparsity.nonzero()], rtol=1e-12, atol=1e-12)
    # jit and vmap
    xs = jnp.stack([x, 0.5 * x - 0.2])
    np.testing.assert_allclose(np.asarray(jax.jit(lambda z: jac(z).todense())(xs[1])), _dense(f, xs[1]),
                               rtol=1e-12, atol=1e-12)
    batched = jax.vmap(jac)(xs).todense()
    for k in range(2):
        np.testing.assert_allclose(np.asarray(batched[k]), _dense(f, xs[k]), rtol=1e-12, atol=1e-12)


def test_default_layouts():
    """Banded and Brusselator Jacobians skip decompression (the 8-color one with a quarter of padding slots too:
    8 products on 6 nonzeros per row); more padding than half the nonzeros goes through decompression."""
    assert js.jacobian(*broyden_banded(100)).layout == "compressed"
    assert js.jacobian(*brusselator_2d(12)).layout == "compressed"
    assert js.jacobian(*brusselator_2d(8)).layout == "compressed"
    f = lambda z: jnp.stack([jnp.sum(z**2), jnp.sum(jnp.sin(z))])  # 2 VJPs, 20 nonzeros: no padding
    jr = js.jacobian(f, jnp.ones(10))
    assert (jr.mode, jr.layout) == ("reverse", "compressed")
    g = lambda z: jnp.stack([jnp.sum(z**2), jnp.prod(z[:3])])  # 2 VJPs, 13 nonzeros: too much padding
    assert js.jacobian(g, jnp.ones(10)).layout == "csr"


def test_stored_zeros_stay_in_the_pattern():
    """Entries that happen to be zero at x are kept (the pattern is global), padding is dropped."""
    f = lambda z: z**2 + jnp.roll(z, 1) * z
    x = jnp.zeros(8)
    jac = js.jacobian(f, x)
    assert jac.layout == "compressed"
    a = js.to_scipy(jac(x))
    assert a.nnz == jac.sparsity.nnz == 16 and (a.toarray() == 0).all()
    np.testing.assert_array_equal(a.indices, jac.sparsity.indices)
