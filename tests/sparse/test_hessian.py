"""Sparse Hessians against jax.hessian (float64), detection against the dense Hessian, and usage errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx.sparse as js
from jacx import AutoJitWarning, JacxUsageError, JacxWarning
from jacx.sparse._hessian_problems import HESSIAN_PROBLEMS, pde_energy
from jacx.sparse._symmetric import acyclic_pays, forest_lower_bound, star_coloring

# (problem, size) -> (star colors, acyclic colors, method chosen by "auto") at that size; regression values of
# the greedy colorings, each checked against the lower bound of two-colored forests
COUNTS = {
    ("extended-rosenbrock", 200): (2, 2, "star"),   # 2 x 2 blocks: optimal
    ("chained-rosenbrock", 200): (3, 2, "star"),  # tridiagonal: optimal (see test_symmetric_coloring)
    ("pde-2d", 400): (5, 4, "star"),
    ("pde-3d", 343): (7, 6, "star"),
    ("brusselator-lsq", 392): (27, 14, "star"),
    ("arrowhead", 200): (2, 2, "star"),               # optimal
    ("mesh", 300): (None, None, "star"),
}
# "auto" keeps star on all of them: acyclic saves fewer products than its substitution costs (acyclic_pays)


def random_point(x0, seed):
    rng = np.random.default_rng(seed)
    return jnp.asarray(np.asarray(x0, np.float64) + 0.3 * rng.standard_normal(x0.shape))


@pytest.mark.parametrize("name,size", list(COUNTS))
def test_sparse_hessian_equals_jax_hessian(x64, name, size):
    f, x0 = HESSIAN_PROBLEMS[name](size)
    x0 = jnp.asarray(x0, jnp.float64)
    star, acyc, chosen = COUNTS[(name, size)]
    results = {}
    for method in ("star", "acyclic", "auto"):
        hess = js.hessian(f, x0, method=method)
        assert hess.coloring.is_valid()
        assert hess.n_colors >= forest_lower_bound(hess.sparsity)
        results[method] = hess
        for seed in range(2):
            x = random_point(x0, seed)
            dense = np.asarray(jax.hessian(f)(x))
            h = hess(x)
            got = np.asarray(h.todense())
            np.testing.assert_allclose(got, dense, rtol=1e-10, atol=1e-10 * np.abs(dense).max())
            np.testing.assert_array_equal(got, got.T)  # symmetric by construction: both triangles from one value
            assert h.nse == hess.sparsity.nnz
            assert set(zip(*np.nonzero(dense))) <= set(zip(*hess.sparsity.nonzero()))
    assert results["auto"].method == chosen
    if star is not None:
        assert (results["star"].n_colors, results["acyclic"].n_colors) == (star, acyc)
    pays = acyclic_pays(results["star"].sparsity, results["star"].n_colors, results["acyclic"].n_colors)
    assert results["auto"].n_colors == results["acyclic" if pays else "star"].n_colors


@pytest.mark.parametrize("name,size,auto", [("mesh", 300, "reverse-over-reverse"),
                                             ("chained-rosenbrock", 60, "forward-over-reverse"),
                                             ("pde-2d", 64, "forward-over-reverse")])
def test_both_hvp_modes_equal_jax_hessian_and_auto_reverses_over_gathers(x64, name, size, auto):
    f, x0 = HESSIAN_PROBLEMS[name](size)
    x = random_point(jnp.asarray(x0, jnp.float64), 3)
    dense = np.asarray(jax.hessian(f)(x))
    assert js.hessian(f, x).hvp == auto  # the mesh energy indexes u by its edges (a gather)
    for mode in ("forward-over-reverse", "reverse-over-reverse"):
        hess = js.hessian(f, x, hvp=mode)
        assert hess.hvp == mode and f"hvp={mode!r}" in repr(hess)
        got = np.asarray(hess(x).todense())
        np.testing.assert_allclose(got, dense, rtol=1e-10, atol=1e-10 * np.abs(dense).max())
        np.testing.assert_array_equal(got, got.T)
    with pytest.raises(JacxUsageError, match="hvp="):
        js.hessian(f, x, hvp="reverse")


def test_values_to_scipy_and_preparation(x64):
    f, x0 = pde_energy(6)
    x0 = jnp.asarray(x0, jnp.float64)
    hess = js.hessian(f, x0)
    x = random_point(x0, 5)
    vals = hess.values(x)
    csr = hess.to_scipy(x)
    assert csr.shape == (36, 36)
    np.testing.assert_array_equal(csr.toarray(), np.asarray(hess(x).todense()))
    np.testing.assert_array_equal(np.asarray(vals), csr.data)
    assert set(hess.preparation) == {"detection", "coloring", "total"}
    assert "SparseHessian(36x36" in repr(hess)


def test_pytree_argument_extra_arguments_and_jit(x64):
    def f(params, scale):
        w, b = params["w"], params["b"]
        return scale * (jnp.sum(w[1:] * w[:-1] * b) + jnp.sum(jnp.sin(w)) + b**2)

    params = {"b": jnp.asarray(0.5), "w": jnp.linspace(0.1, 1.0, 6)}
    hess = js.hessian(f, params, 2.0)
    flat = lambda z: f({"b": z[0], "w": z[1:]}, 3.0)  # ravel_pytree order: b, then w
    z = jnp.concatenate([params["b"][None], params["w"]])
    np.testing.assert_allclose(np.asarray(hess(params, 3.0).todense()), np.asarray(jax.hessian(flat)(z)),
                               rtol=1e-12, atol=1e-12)
    hx = js.hessian(lambda x, c: jnp.sum(c * x**4), jnp.ones(4), args=(jnp.ones(4),))
    jitted = jax.jit(lambda x: hx.values(x, 2.0 * jnp.ones(4)))(jnp.arange(4.0))
    np.testing.assert_allclose(np.asarray(jitted), 24.0 * np.arange(4.0) ** 2)
    hy = js.hessian(lambda c, x: jnp.sum(c * x**4), jnp.ones(4), jnp.ones(4), argnums=1)
    np.testing.assert_allclose(np.asarray(hy.values(jnp.ones(4), jnp.arange(4.0))), 12.0 * np.arange(4.0) ** 2)


def test_hessian_sparsity_is_symmetric_with_the_diagonal():
    f = lambda x: x[0] * x[2] + jnp.sum(x[3:] ** 2)
    p = js.hessian_sparsity(f, jnp.ones(5)).toarray()
    expected = np.eye(5, dtype=bool)
    expected[0, 2] = expected[2, 0] = True
    np.testing.assert_array_equal(p, expected)


def test_usage_errors():
    with pytest.raises(JacxUsageError, match="scalar"):
        js.hessian(lambda x: x**2, jnp.ones(3))
    with pytest.raises(JacxUsageError, match="method"):
        js.hessian(lambda x: jnp.sum(x**2), jnp.ones(3), method="distance-2")
    hess = js.hessian(lambda x: jnp.sum(x**3), jnp.ones(3))
    with pytest.raises(JacxUsageError, match="shapes"):
        hess(jnp.ones(4))
    with pytest.raises(JacxUsageError, match="arguments"):
        hess(jnp.ones(3), jnp.ones(3))
    with pytest.raises(JacxUsageError, match="floating"):
        js.hessian(lambda x: jnp.sum(x), jnp.arange(3))
    with pytest.raises(JacxUsageError, match="argnums"):
        js.hessian(lambda x: jnp.sum(x), jnp.ones(3), argnums=(0,))


def test_large_pattern_colors_in_seconds_without_the_python_greedy():
    # n = 10^5 tridiagonal-like pattern: auto colors it (distance-2 search, then the acyclic greedy within its
    # budget); only validity and counts are asserted, not time
    import scipy.sparse as sp

    n = 100_000
    p = sp.diags_array([np.ones(n - 1), np.ones(n), np.ones(n - 1)], offsets=[-1, 0, 1]) != 0
    c = star_coloring(p)
    assert c.n_colors == 3 and c.is_valid()


# random compositions: the detected pattern contains every nonzero of the dense Hessian
UNARY = (jnp.sin, jnp.exp, jnp.tanh, lambda v: v**2, lambda v: v**3, jnp.cos)
MIXERS = (
    lambda v: v[1:] * v[:-1],
    lambda v: v[::-1],
    lambda v: jnp.cumsum(v),
    lambda v: v * jnp.sum(v[:2]),
    lambda v: jnp.roll(v, 2),
    lambda v: v[2:] + v[:-2],
    lambda v: jnp.concatenate([v[:1] * v[-1:], v[1:]]),
)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(UNARY) - 1), st.integers(0, len(MIXERS) - 1)), min_size=1,
                max_size=3), st.integers(6, 10), st.integers(0, 1000))
def test_detected_pattern_contains_the_dense_hessian(steps, n, seed):
    steps = tuple(steps)  # immutable, so jacx can trust what f reads

    def f(x):
        v = x
        for u, m in steps:
            v = MIXERS[m](UNARY[u](v))
        return jnp.sum(v * jnp.linspace(0.5, 1.5, v.shape[0]))

    with jax.enable_x64(True):
        x = jnp.asarray(np.random.default_rng(seed).uniform(-0.9, 0.9, n))
        pattern = js.hessian_sparsity(f, x).toarray()
        dense = np.asarray(jax.hessian(f)(x))
        assert not (np.abs(dense) > 1e-300)[~pattern].any()
        np.testing.assert_array_equal(pattern, pattern.T)
        if pattern.sum() < n * n:  # sparse enough to color: the prepared Hessian agrees too
            hess = js.hessian(f, x)
            np.testing.assert_allclose(np.asarray(hess(x).todense()), dense, rtol=1e-9, atol=1e-9)


_W = jnp.asarray(2.0)


def _weighted(x):
    return _W * jnp.sum(x**3) + jnp.sum(x[1:] * x[:-1])


def test_repeated_calls_see_a_rebound_global_and_a_dict_updated_in_place(x64):
    global _W
    x = jnp.linspace(0.1, 1.0, 8)
    hess = js.hessian(_weighted, x)
    try:
        for w in (2.0, 5.0, -1.0):
            _W = jnp.asarray(w)
            for _ in range(3):  # later calls take the short path for a flat vector: it must still see the change
                np.testing.assert_allclose(np.asarray(hess(x).todense()), np.asarray(jax.hessian(_weighted)(x)),
                                           rtol=1e-12, atol=1e-12)
    finally:
        _W = jnp.asarray(2.0)
    params = {"w": 2.0}

    def quartic(x):
        return params["w"] * jnp.sum(x**4) + jnp.sum(x[1:] * x[:-1])

    hess = js.hessian(quartic, x)
    with pytest.warns(AutoJitWarning, match="reads state that can change"):  # said once; every call stays correct
        for w in (2.0, 3.0):
            params["w"] = w
            for _ in range(3):
                np.testing.assert_allclose(np.asarray(hess(x).todense()), np.asarray(jax.hessian(quartic)(x)),
                                           rtol=1e-12, atol=1e-12)


_PAIR = jnp.array([0, 1])


def _coupled(x):
    return jnp.sum(x**3) + x[_PAIR[0]] * x[_PAIR[1]]


def test_a_rebound_global_that_adds_nonzeros_is_colored_again(x64):
    global _PAIR
    x = jnp.linspace(0.1, 1.0, 8)
    hess = js.hessian(_coupled, x)
    for _ in range(3):
        hess(x)
    try:
        _PAIR = jnp.array([0, 5])  # H[0, 5] appears: the prepared pattern no longer covers the Hessian
        with pytest.warns(JacxWarning, match="gained"):
            got = np.asarray(hess(x).todense())
        np.testing.assert_allclose(got, np.asarray(jax.hessian(_coupled)(x)), rtol=1e-12, atol=1e-12)
        assert got[0, 5] == got[5, 0] == 1.0
    finally:
        _PAIR = jnp.array([0, 1])


def test_a_float32_preparation_called_with_float64_computes_in_float64(x64):
    f, x0 = pde_energy(6)  # prepared with float32 x0
    hess = js.hessian(f, x0)
    x = random_point(jnp.asarray(x0, jnp.float64), 7)
    h = hess(x)
    assert h.dtype == jnp.float64
    dense = np.asarray(jax.hessian(f)(x))
    np.testing.assert_allclose(np.asarray(h.todense()), dense, rtol=1e-12, atol=1e-12 * np.abs(dense).max())
    assert hess(x0).dtype == jnp.float32  # and float32 still computes in float32
