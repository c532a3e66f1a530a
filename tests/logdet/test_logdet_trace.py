"""Exact and stochastic traces, and the stochastic log-determinant of residual maps, against exact answers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacx
import jacx.logdet as ld


def test_divergence_hand_derived(x64):
    F = lambda v: jnp.array([v[0] ** 2, v[0] * v[1], jnp.exp(v[2]) + v[0]])  # noqa: E731
    x = jnp.array([0.5, -2.0, 0.3])
    expected = 2 * 0.5 + 0.5 + np.exp(0.3)  # hand-derived: d/dx x^2 + d/dy xy + d/dz e^z
    np.testing.assert_allclose(ld.divergence(F)(x), expected, rtol=1e-12)
    np.testing.assert_allclose(ld.divergence(F, structure="dense")(x), expected, rtol=1e-12)
    np.testing.assert_allclose(ld.trace(F, chunk_size=2, structure="dense")(x).value, expected, rtol=1e-12)


def test_colored_trace_uses_few_jvps(x64):
    n = 50
    F = lambda v: v**2 + jnp.roll(v, 1) * jnp.roll(v, -1)  # noqa: E731  periodic tridiagonal Jacobian
    x = jnp.linspace(-1.0, 2.0, n)
    e = ld.trace(F)(x)
    # for the diagonal only, columns j and k clash when J[j, k] or J[k, j] can be nonzero: an even cycle, 2 colors
    assert int(e.num_matvecs) == 2 and "colored" in e.method
    np.testing.assert_allclose(e.value, jnp.trace(jax.jacfwd(F)(x)), rtol=1e-12)
    assert float(e.stderr) == 0.0


def _decaying(n=100, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return jnp.asarray(q @ np.diag(1.0 / np.arange(1, n + 1) ** 2) @ q.T)


def test_hutchinson_is_unbiased_and_stderr_is_calibrated(x64):
    a = _decaying(40, seed=1) + 0.3 * jnp.asarray(np.random.default_rng(2).normal(size=(40, 40)))
    exact = float(jnp.trace(a))
    keys = jax.random.split(jax.random.key(0), 400)
    est = jax.jit(jax.vmap(lambda k: ld.hutchinson(a, k, 10)))(keys)
    values, stderrs = np.asarray(est.value), np.asarray(est.stderr)
    # unbiased: the mean of 400 independent estimates is within 4 standard errors of the truth
    assert abs(values.mean() - exact) < 4 * values.std(ddof=1) / np.sqrt(len(values))
    # calibrated: the reported standard error matches the spread of independent estimates (within 25 %)
    assert 0.75 < np.sqrt(np.mean(stderrs**2)) / values.std(ddof=1) < 1.25
    for probe in ("gaussian", "rademacher"):
        big = ld.hutchinson(a, jax.random.key(5), 20_000, probe=probe)
        assert abs(float(big.value) - exact) < 4 * float(big.stderr)


def test_hutchpp_exact_on_low_rank_and_better_on_decaying_spectrum(x64):
    rng = np.random.default_rng(4)
    u = jnp.asarray(rng.normal(size=(60, 5)))
    low_rank = u @ u.T
    e = ld.hutchpp(low_rank, jax.random.key(0), 18)  # sketch of 6 columns captures rank 5 exactly
    np.testing.assert_allclose(e.value, jnp.trace(low_rank), rtol=1e-10)
    a = _decaying(100)
    exact = float(jnp.trace(a))
    keys = jax.random.split(jax.random.key(1), 200)
    err_pp = jax.jit(jax.vmap(lambda k: ld.hutchpp(a, k, 30).value))(keys) - exact
    err_h = jax.jit(jax.vmap(lambda k: ld.hutchinson(a, k, 30).value))(keys) - exact
    assert float(jnp.sqrt(jnp.mean(err_pp**2))) * 3 < float(jnp.sqrt(jnp.mean(err_h**2)))


def test_estimators_on_a_jacobian_operator(x64):
    F = lambda v: jnp.tanh(v) + 0.1 * jnp.sum(v) * v  # noqa: E731
    x = jnp.linspace(-1.0, 1.0, 30)
    exact = float(jnp.trace(jax.jacfwd(F)(x)))
    op = ld.jacobian_operator(F, x)
    assert op.shape == (30, 30)
    e = ld.hutchinson(op, jax.random.key(2), 3000)
    assert abs(float(e.value) - exact) < 4 * float(e.stderr)
    e = ld.hutchpp(op, jax.random.key(2), 90)
    assert abs(float(e.value) - exact) < 4 * float(e.stderr) + 1e-8


def test_estimator_errors():
    with pytest.raises(jacx.NonSquareJacobianError):
        ld.hutchinson(jnp.ones((2, 3)), jax.random.key(0), 4)
    with pytest.raises(jacx.JacxUsageError, match="num_probes=0"):
        ld.hutchinson(jnp.eye(2), jax.random.key(0), 0)
    with pytest.raises(jacx.JacxUsageError, match="num_matvecs=2"):
        ld.hutchpp(jnp.eye(2), jax.random.key(0), 2)
    with pytest.raises(jacx.JacxUsageError, match="probe='cauchy'"):
        ld.hutchinson(jnp.eye(2), jax.random.key(0), 3, probe="cauchy")
    with pytest.raises(jacx.JacxUsageError, match="method='taylor'"):
        ld.residual_logdet(jnp.tanh, jnp.ones(2), jax.random.key(0), method="taylor")


def _contractive(n=8, lip=0.4, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, n))
    w = jnp.asarray(lip * w / np.linalg.norm(w, 2))
    return lambda v: w @ jnp.tanh(v + 0.3)  # noqa: E731  Lip <= lip


def test_residual_series_converges_to_exact(x64):
    g = _contractive()
    x = jnp.asarray(np.random.default_rng(1).normal(size=8))
    exact = float(jnp.linalg.slogdet(jnp.eye(8) + jax.jacfwd(g)(x))[1])
    # with all n unit vectors as probes the series is deterministic; its truncation error shrinks like L^K
    errors = []
    for k in (2, 6, 20):
        e = ld.residual_logdet(g, x, jax.random.key(0), num_probes=4000, num_terms=k)
        errors.append(abs(float(e.value) - exact))
        assert int(e.num_matvecs) == 4000 * k
    e = ld.residual_logdet(g, x, jax.random.key(0), num_probes=4000, num_terms=20)
    assert abs(float(e.value) - exact) < 4 * float(e.stderr)


def test_russian_roulette_is_unbiased_where_truncation_is_not(x64):
    g = _contractive(lip=0.4, seed=3)
    x = jnp.asarray(np.random.default_rng(4).normal(size=8))
    jg = jax.jacfwd(g)(x)
    exact = float(jnp.linalg.slogdet(jnp.eye(8) + jg)[1])
    one_term = float(jnp.trace(jg))  # what the series would give if it always stopped after the guaranteed term
    rr = ld.residual_logdet(
        g, x, jax.random.key(7), num_probes=20_000, method="roulette", exact_terms=1, stop_probability=0.4
    )
    assert abs(float(rr.value) - exact) < 4 * float(rr.stderr)
    assert abs(one_term - exact) > 8 * float(rr.stderr)  # the test can tell the biased answer apart
    # expected terms per probe: 1 + (1 - p) / p = 2.5
    assert 2.3 * 20_000 < int(rr.num_matvecs) < 2.7 * 20_000


def test_non_functions_are_usage_errors():
    for make in (ld.logdet, ld.slogdet, ld.trace, ld.divergence):
        with pytest.raises(jacx.JacxUsageError, match="expects a function"):
            make(3.0)
    with pytest.raises(jacx.JacxUsageError, match="chunk_size"):
        ld.trace(jnp.sin, chunk_size=-1)
    with pytest.raises(jacx.JacxUsageError, match="expects a function"):
        ld.residual_logdet(None, jnp.ones(2), jax.random.key(0))
