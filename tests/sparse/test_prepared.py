"""The prepared sparse Jacobian: values equal dense AD in every mode; jit/vmap; errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse as jsparse

import jacx.sparse as js
from jacx._errors import JacxUsageError
from jacx.sparse.problems import arrow, broyden_banded, brusselator_2d, conv_layer


def _dense(f, x, rev=False):
    flat = lambda z: jnp.ravel(f(z))
    j = (jax.jacrev if rev else jax.jacfwd)(flat)(x)
    return np.asarray(j).reshape(j.shape[0], -1)


@pytest.mark.parametrize("make, size", [(brusselator_2d, 8), (broyden_banded, 60), (arrow, 40), (conv_layer, 20)])
@pytest.mark.parametrize("mode", ["auto", "forward", "reverse", "bidirectional"])
def test_values_equal_dense_ad(make, size, mode, x64):
    f, x = make(size)
    x = jnp.asarray(x, jnp.float64) + 0.1
    jac = js.jacobian(f, x, mode=mode)
    out = jac(x)
    assert isinstance(out, jsparse.BCOO) and out.shape == jac.sparsity.shape
    np.testing.assert_allclose(np.asarray(out.todense()), _dense(f, x), rtol=1e-12, atol=1e-12)
    assert jac.coloring.is_valid(jac.sparsity)
    if mode != "auto":
        assert jac.mode == mode or (mode == "bidirectional" and jac.mode in ("forward", "reverse"))


def test_mode_and_color_attributes():
    f, x = brusselator_2d(48)
    jac = js.jacobian(f, x)
    assert (jac.mode, jac.n_colors) == ("forward", 6)
    assert jac.sparsity.shape == (2 * 48 * 48,) * 2 and jac.sparsity.dtype == bool
    f, x = arrow(64)
    assert js.jacobian(f, x).mode == "bidirectional"
    # a wide function (few outputs) prefers VJPs
    g = lambda z: jnp.stack([jnp.sum(z**2), jnp.prod(z[:3])])
    jr = js.jacobian(g, jnp.ones(10))
    assert (jr.mode, jr.n_colors) == ("reverse", 2)


def test_jit_and_vmap_compose(x64):
    f, x = broyden_banded(30)
    x = jnp.asarray(x, jnp.float64)
    jac = js.jacobian(f, x)
    xs = jnp.stack([x, x + 0.5, x - 0.25])
    dense = jax.jit(lambda z: jac(z).todense())(xs[1])
    np.testing.assert_allclose(np.asarray(dense), _dense(f, xs[1]), rtol=1e-12)
    vals = jax.vmap(jac.values)(xs)
    batched = jax.vmap(jac)(xs)
    for k in range(3):
        ref = _dense(f, xs[k])
        np.testing.assert_allclose(np.asarray(vals[k]), ref[jac.sparsity.nonzero()], rtol=1e-12)
        np.testing.assert_allclose(np.asarray(batched.todense()[k]), ref, rtol=1e-12)
    # a Newton step inside jit, with a sparse solve outside
    step = jax.jit(lambda z: jac(z).todense() @ f(z))
    assert step(x).shape == (30,)


def test_scipy_conversion(x64):
    f, x = brusselator_2d(8)
    x = jnp.asarray(x, jnp.float64)
    jac = js.jacobian(f, x)
    a = js.to_scipy(jac(x))
    b = jac.to_scipy(x)
    assert a.format == "csr" and (abs(a - b)).max() == 0
    np.testing.assert_allclose(a.toarray(), _dense(f, x), rtol=1e-12)


def test_custom_vjp_function_uses_reverse_mode(x64):
    @jax.custom_vjp
    def h(x):
        return jnp.sin(x) * 2

    h.defvjp(lambda x: (h(x), jnp.cos(x)), lambda c, g: (2 * c * g,))
    f = lambda x: h(x) + x[::-1]
    x = jnp.linspace(0.1, 1.0, 6)
    jac = js.jacobian(f, x)
    assert jac.mode == "reverse"
    np.testing.assert_allclose(np.asarray(jac(x).todense()), _dense(f, x, rev=True), rtol=1e-12)
    with pytest.raises(JacxUsageError, match="reverse"):
        js.jacobian(f, x, mode="forward")


def test_extra_args(x64):
    f = lambda y, t: jnp.sin(t) * y**2 + jnp.roll(y, 1)
    y = jnp.linspace(0.0, 1.0, 5)
    jac = js.jacobian(f, y, args=(0.3,))
    np.testing.assert_allclose(np.asarray(jac(y, 0.7).todense()),
                               _dense(lambda z: f(z, 0.7), y), rtol=1e-12)


def test_check_reports_errors(x64):
    f, x = broyden_banded(40)
    x = jnp.asarray(x, jnp.float64)
    res = js.check_sparse_jacobian(f, x)
    assert res.ok and res.max_error < 1e-12 and res.method == "dense AD"
    big = js.check_sparse_jacobian(f, x, dense_limit=10)
    assert big.ok and "random" in big.method
    # a wrong Jacobian (prepared for another function of the same shape) is caught by both methods
    wrong = js.jacobian(lambda z: f(z) * 1.01, x)
    assert not js.check_sparse_jacobian(f, x, jac=wrong).ok
    assert not js.check_sparse_jacobian(f, x, jac=wrong, dense_limit=10).ok
    assert "DISAGREES" in str(js.check_sparse_jacobian(f, x, jac=wrong))


def test_usage_errors():
    jac = js.jacobian(lambda z: z**2, jnp.ones(3))
    with pytest.raises(JacxUsageError, match=r"expected \(3,\)"):
        jac(jnp.ones(4))
    with pytest.raises(JacxUsageError, match="mode"):
        js.jacobian(lambda z: z, jnp.ones(3), mode="sideways")


@pytest.mark.parametrize("fill, layout", [(0.0, "csr"), (2.0, "compressed")])
def test_large_problem_code_path(monkeypatch, fill, layout, x64):
    """Index data passed as jit arguments (the path used for large Jacobians) gives the same values."""
    from jacx.sparse import _prepared

    monkeypatch.setattr(_prepared, "_BAKE_LIMIT", 4)
    monkeypatch.setattr(_prepared, "_DIRECT_MAX_FILL", fill)
    f, x = brusselator_2d(8)
    x = jnp.asarray(x, jnp.float64)
    jac = js.jacobian(lambda z: f(z), x)
    assert "fseeds" not in jac._const and jac.layout == layout
    np.testing.assert_allclose(np.asarray(jac(x).todense()), _dense(f, x), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.jit(jac.values)(x)), _dense(f, x)[jac.sparsity.nonzero()], rtol=1e-12)


def test_while_loop_function_avoids_reverse_mode(x64):
    # wide (2 outputs, 10 inputs): reverse would be cheaper, but JAX cannot reverse a while_loop
    def g(z):
        w = jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * 1.1, c[1] + 1), (z, 0))[0]
        return jnp.stack([jnp.sum(w), w[0] * w[1]])

    jac = js.jacobian(g, jnp.ones(10))
    assert jac.mode == "forward"
    np.testing.assert_allclose(np.asarray(jac(jnp.ones(10)).todense()), _dense(g, jnp.ones(10)), rtol=1e-12)


@pytest.mark.parametrize("select", [True, False])
def test_both_decompressions_agree(monkeypatch, select, x64):
    from jacx.sparse import _prepared

    monkeypatch.setattr(_prepared, "_SELECT_MIN_NNZ", 0)
    monkeypatch.setattr(_prepared, "_SELECT_DECOMPRESSION", select)
    monkeypatch.setattr(_prepared, "_DIRECT_MAX_FILL", 0.0)  # the BCOO too goes through the decompression
    f, x = brusselator_2d(12)
    x = jnp.asarray(x, jnp.float64) + 0.1
    jac = js.jacobian(lambda z: f(z), x, mode="forward")
    assert jac._uniform == select and jac.layout == "csr"
    np.testing.assert_allclose(np.asarray(jac(x).todense()), _dense(f, x), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.vmap(jac.values)(jnp.stack([x, 2 * x]))[1]),
                               _dense(f, 2 * x)[jac.sparsity.nonzero()], rtol=1e-12)
