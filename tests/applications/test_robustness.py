"""jacx.robustness against the SVD, exact norms, closed forms and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacx._errors import JacxUsageError
from jacx.backprop import init_mlp, mlp
from jacx.robustness import (
    frobenius_estimate,
    frobenius_norm,
    io_jacobian,
    jacobian_regularizer,
    local_lipschitz,
    spectral_norm,
    top_singular_perturbation,
)

PARAMS = tuple(init_mlp(jax.random.PRNGKey(0), [6, 16, 4]))  # a tuple: jacx can vouch it is unchanged


def model(x):
    return mlp(PARAMS, x)


def test_io_jacobian_matches_finite_differences(x64):
    params = tuple(init_mlp(jax.random.PRNGKey(0), [6, 16, 4]))
    f = lambda x: mlp(params, x)  # noqa: E731
    x = jnp.linspace(-1, 1, 6)
    J = np.asarray(io_jacobian(f, x))
    h = 1e-6
    fd = np.stack([(np.asarray(f(x.at[j].add(h))) - np.asarray(f(x.at[j].add(-h)))) / (2 * h) for j in range(6)], 1)
    np.testing.assert_allclose(J, fd, atol=1e-8)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_spectral_norm_and_vectors_match_svd(seed):
    x = jax.random.normal(jax.random.PRNGKey(seed), (6,))
    U, S, Vt = np.linalg.svd(np.asarray(io_jacobian(model, x)))
    res = spectral_norm(model, x, jax.random.PRNGKey(seed + 1), n_iter=200)
    assert float(res.sigma) == pytest.approx(S[0], rel=1e-4)
    assert abs(float(jnp.dot(res.v, Vt[0]))) == pytest.approx(1.0, abs=1e-3)  # same line, either sign
    assert abs(float(jnp.dot(res.u, U[:, 0]))) == pytest.approx(1.0, abs=1e-3)


def test_frobenius_exact_and_estimate():
    x = jnp.ones(6)
    J = np.asarray(io_jacobian(model, x))
    assert float(frobenius_norm(model, x)) == pytest.approx(np.linalg.norm(J), rel=1e-6)
    est = float(frobenius_estimate(model, x, jax.random.PRNGKey(0), n_proj=20_000))
    # unbiased for ||J||_F^2; the standard error with 20000 projections is below 2 %
    assert est == pytest.approx(np.linalg.norm(J) ** 2, rel=0.05)


def test_local_lipschitz_of_linear_map_and_bound():
    W = jnp.array([[2.0, 0.0, 0.0], [0.0, 0.5, 0.0]])
    lip = float(local_lipschitz(lambda x: W @ x, jnp.zeros(3), 0.5, jax.random.PRNGKey(0)))
    assert lip == pytest.approx(2.0, rel=1e-5)
    # for the MLP: the estimate is a sampled max, so at least ||J(x)||_2 and at most the sup over the ball,
    # which the sampled difference quotients cannot exceed
    x = jnp.zeros(6)
    L = float(local_lipschitz(model, x, 0.3, jax.random.PRNGKey(1)))
    assert L >= float(np.linalg.svd(np.asarray(io_jacobian(model, x)), compute_uv=False)[0]) - 1e-5
    d = jax.random.normal(jax.random.PRNGKey(2), (6,))
    d = 0.3 * d / jnp.linalg.norm(d)
    quotient = float(jnp.linalg.norm(model(x + d) - model(x)) / 0.3)
    assert quotient <= L * 1.5  # mean-value bound, with room for sampling


def test_regularizer_is_differentiable_and_matches_exact_in_expectation():
    xs = jax.random.normal(jax.random.PRNGKey(3), (8, 6))
    exact = np.mean([float(frobenius_norm(model, x)) ** 2 for x in xs])
    est = float(jacobian_regularizer(model, xs, jax.random.PRNGKey(4), n_proj=4000))
    assert est == pytest.approx(exact, rel=0.05)
    g = jax.grad(lambda p: jacobian_regularizer(lambda x: mlp(p, x), xs, jax.random.PRNGKey(5)))(PARAMS)
    assert all(bool(jnp.all(jnp.isfinite(w))) for w, _ in g) and float(jnp.abs(g[0][0]).max()) > 0


def test_top_singular_perturbation_moves_output_most():
    x = jnp.array([0.3, -0.2, 0.5, 0.1, -0.4, 0.2])
    eps = 1e-3
    dx = top_singular_perturbation(model, x, eps, jax.random.PRNGKey(0), label=0, n_iter=200)
    assert float(jnp.linalg.norm(dx)) == pytest.approx(eps, rel=1e-5)
    S = np.linalg.svd(np.asarray(io_jacobian(model, x)), compute_uv=False)
    moved = float(jnp.linalg.norm(model(x + dx) - model(x)))
    assert moved == pytest.approx(eps * S[0], rel=1e-2)  # the largest first-order gain
    # and it lowers the margin of class 0 (or leaves it, to first order)
    def margin(z):
        out = model(z)
        return out[0] - jnp.max(out[1:])
    assert float(margin(x + dx)) <= float(margin(x)) + 1e-7


def test_usage_errors():
    with pytest.raises(JacxUsageError, match="1-D"):
        io_jacobian(model, jnp.ones((2, 6)))
    with pytest.raises(JacxUsageError, match="batch"):
        jacobian_regularizer(model, jnp.ones(6), jax.random.PRNGKey(0))
    with pytest.raises(JacxUsageError, match="eps"):
        top_singular_perturbation(model, jnp.ones(6), 0.0, jax.random.PRNGKey(0))


def test_more_usage_errors_name_the_argument():
    key = jax.random.PRNGKey(0)
    with pytest.raises(JacxUsageError, match="expects a function"):
        spectral_norm(None, jnp.ones(6), key)
    with pytest.raises(JacxUsageError, match="n_proj must be an integer"):
        frobenius_estimate(model, jnp.ones(6), key, n_proj=2.5)
    with pytest.raises(JacxUsageError, match="radius must be a positive"):
        local_lipschitz(model, jnp.ones(6), -1.0, key)
    with pytest.raises(JacxUsageError, match="n_iter must be an integer"):
        spectral_norm(model, jnp.ones(6), key, n_iter=0)


def test_spectral_norm_of_a_zero_jacobian_is_zero_not_nan():
    res = spectral_norm(lambda x: 0.0 * x, jnp.ones(3), jax.random.PRNGKey(0))
    assert float(res.sigma) == 0.0
    assert bool(jnp.all(jnp.isfinite(res.v))) and float(jnp.linalg.norm(res.v)) == pytest.approx(1.0, rel=1e-6)
