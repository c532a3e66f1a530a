"""jacx.optimize.least_squares: solutions checked by their residuals and gradients, and against SciPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so

import jacx
import jacx.sparse
from jacx.optimize import least_squares
from jacx.optimize.problems import broyden_tridiagonal, extended_rosenbrock


def exponential_fit(theta, t, y):
    """Sums of decaying exponentials fitted to data: a nonzero-residual problem with m > n."""
    a, k = theta[: theta.size // 2], theta[theta.size // 2:]
    return jnp.sum(a[:, None] * jnp.exp(-k[:, None] * t[None, :]), axis=0) - y


@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
@pytest.mark.parametrize("problem,x0", [(broyden_tridiagonal, -1.0), (extended_rosenbrock, None)])
def test_zero_residual_problems(method, problem, x0, x64):
    n = 200
    start = -jnp.ones(n) if x0 is not None else jnp.tile(jnp.array([-1.2, 1.0]), n // 2)
    res = least_squares(problem, start, method=method)
    assert res.success, res.message
    assert float(jnp.max(jnp.abs(problem(res.x)))) < 1e-8
    if problem is extended_rosenbrock:
        np.testing.assert_allclose(res.x, 1.0, atol=1e-8)
    assert res.history[0] > res.history[-1] and all(b <= a for a, b in zip(res.history, res.history[1:]))


def test_nonzero_residual_fit_matches_scipy(x64):
    t = jnp.linspace(0.0, 4.0, 60)
    rng = np.random.default_rng(0)
    y = 2.0 * jnp.exp(-1.3 * t) + 0.5 * jnp.exp(-0.2 * t) + 0.01 * jnp.asarray(rng.standard_normal(60))
    theta0 = jnp.array([1.0, 1.0, 2.0, 0.1])
    res = least_squares(exponential_fit, theta0, args=(t, y))
    assert res.success, res.message
    ref = so.least_squares(lambda p: np.asarray(exponential_fit(jnp.asarray(p), t, y)), np.asarray(theta0),
                           jac=lambda p: np.asarray(jax.jacfwd(exponential_fit)(jnp.asarray(p), t, y)),
                           method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose(res.cost, ref.cost, rtol=1e-9)
    np.testing.assert_allclose(np.sort(np.asarray(res.x[2:])), np.sort(ref.x[2:]), rtol=1e-5)
    # a local minimum: the gradient J^T r vanishes (checked with a dense Jacobian)
    J = jax.jacfwd(exponential_fit)(res.x, t, y)
    assert float(jnp.max(jnp.abs(J.T @ exponential_fit(res.x, t, y)))) < 1e-8


def test_reuses_a_prepared_jacobian_and_float32():
    x0 = -jnp.ones(50, jnp.float32)
    jac = jacx.sparse.jacobian(broyden_tridiagonal, x0)
    res = least_squares(broyden_tridiagonal, x0, jac=jac, gtol=1e-4)
    assert res.x.dtype == jnp.float32 and res.n_colors == jac.n_colors == 3
    assert float(jnp.max(jnp.abs(broyden_tridiagonal(res.x)))) < 1e-4


def test_large_n_runs_where_a_dense_jacobian_cannot(monkeypatch, x64):
    """n = 10^5: the dense Jacobian (80 GB in float64) is refused by jacx's memory check; the sparse solve runs."""
    n = 100_000
    x0 = -jnp.ones(n)
    monkeypatch.setenv("JACX_MEMORY_LIMIT_BYTES", "8GB")
    with pytest.raises(jacx.JacobianTooLargeError, match="100000 x 100000"):
        jacx.jacobian(broyden_tridiagonal)(x0)
    monkeypatch.delenv("JACX_MEMORY_LIMIT_BYTES")
    res = least_squares(broyden_tridiagonal, x0)
    assert res.success and float(jnp.max(jnp.abs(broyden_tridiagonal(res.x)))) < 1e-8


def test_usage_errors():
    with pytest.raises(jacx.JacxUsageError, match="method must be"):
        least_squares(broyden_tridiagonal, jnp.ones(3), method="newton")
    with pytest.raises(jacx.JacxUsageError, match="1-D floating-point"):
        least_squares(broyden_tridiagonal, jnp.ones((2, 2)))
    with pytest.raises(jacx.JacxUsageError, match="1-D floating-point"):
        least_squares(broyden_tridiagonal, jnp.arange(3))
    with pytest.raises(jacx.JacxUsageError, match="residual function first"):
        least_squares(broyden_tridiagonal(jnp.ones(3)), jnp.ones(3))
    with pytest.raises(jacx.JacxUsageError, match="got a dict"):
        least_squares(broyden_tridiagonal, {"x": jnp.ones(3)})
    with pytest.raises(jacx.JacxUsageError, match="received jac of type function"):
        least_squares(broyden_tridiagonal, jnp.ones(3), jac=jax.jacfwd(broyden_tridiagonal))
    with pytest.raises(jacx.JacxUsageError, match="inputs of size 4; x0 has 3"):
        least_squares(broyden_tridiagonal, jnp.ones(3), jac=jacx.sparse.jacobian(broyden_tridiagonal, jnp.ones(4)))


_TARGET = jnp.full(4, 2.0)


def test_a_reused_prepared_jacobian_sees_a_rebound_global():
    global _TARGET

    def residual(x):
        return x - _TARGET

    jac = jacx.sparse.jacobian(residual, jnp.zeros(4))
    try:
        np.testing.assert_allclose(least_squares(residual, jnp.zeros(4), jac=jac).x, 2.0, rtol=1e-5)
        _TARGET = jnp.full(4, 7.0)  # the second solve compiles nothing new, but must not keep the old target
        np.testing.assert_allclose(least_squares(residual, jnp.zeros(4), jac=jac).x, 7.0, rtol=1e-5)
    finally:
        _TARGET = jnp.full(4, 2.0)
