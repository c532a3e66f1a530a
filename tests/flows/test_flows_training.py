"""Flows as distributions: log_prob against closed forms, the grid normalisation check, sampling and training."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jacx
from jacx.flows import (
    Flow,
    LULinear,
    StandardNormal,
    checkerboard,
    grid_integral,
    maf,
    make_dataset,
    realnvp,
    rings,
    train,
    two_moons,
)

from .conftest import _randomize


def test_affine_flow_log_prob_is_the_gaussian_density():
    # z = F(x) = A x + b with A = LU-parametrised: x ~ N(-A^{-1} b, (A^T A)^{-1})
    lin = _randomize(LULinear.init(jax.random.key(0), 3), jax.random.key(1), 0.4)
    with jax.enable_x64(True):
        lin = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), lin)
        flow = Flow(lin, StandardNormal((3,)))
        a = np.asarray(lin.weight())
        b = np.asarray(lin.bias)
        mean = -np.linalg.solve(a, b)
        cov = np.linalg.inv(a.T @ a)
        pts = np.random.default_rng(0).normal(size=(6, 3))
        np.testing.assert_allclose(
            flow.log_prob(jnp.asarray(pts)), stats.multivariate_normal(mean, cov).logpdf(pts), rtol=1e-10
        )
        samples = np.asarray(flow.sample(jax.random.key(3), 20_000))
        np.testing.assert_allclose(samples.mean(0), mean, atol=5 * np.sqrt(np.diag(cov).max() / 20_000))
        np.testing.assert_allclose(np.cov(samples.T), cov, rtol=0.05, atol=0.02)


def test_random_realnvp_integrates_to_one_and_a_wrong_logdet_does_not():
    flow = realnvp(jax.random.key(0), 2, num_layers=4, hidden=(16,))
    flow = _randomize(flow, jax.random.key(1), 0.3)
    flow = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), flow)
    assert abs(grid_integral(flow, ((-20.0, 20.0), (-20.0, 20.0)), 800) - 1.0) < 0.01
    # on a smaller box the integral is the probability of the box, which sampling estimates independently
    box = ((-8.0, 8.0), (-8.0, 8.0))
    samples = np.asarray(flow.sample(jax.random.key(2), 50_000))
    inside = float(np.mean(np.all(np.abs(samples) <= 8.0, axis=1)))
    assert abs(grid_integral(flow, box, 400) - inside) < 0.003

    def wrong(x):  # a classic bug: forgetting the log-determinant
        z = jax.vmap(flow.bijector.forward)(x)
        return jax.vmap(flow.base.log_prob)(z)

    assert abs(grid_integral(wrong, box, 400) - 1.0) > 0.05


def test_log_prob_of_samples_is_consistent_for_maf():
    flow = _randomize(maf(jax.random.key(0), 3, num_layers=2, hidden=(8,)), jax.random.key(1), 0.3)
    key = jax.random.key(2)
    x = flow.sample(key, 5)
    z = flow.base.sample(key, 5)
    # log p_x(x) = log p_z(z) + log|det dF/dx| where z = F(x) is the base sample that produced x
    expected = jax.vmap(flow.base.log_prob)(z) + jax.vmap(flow.bijector.forward_log_det_jacobian)(x)
    np.testing.assert_allclose(flow.log_prob(x), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(jax.vmap(flow.bijector.forward)(x), z, rtol=1e-4, atol=1e-4)


def test_batch_shapes_and_errors():
    flow = realnvp(jax.random.key(0), 2, 2, (4,))
    assert flow.log_prob(jnp.zeros((3, 4, 2))).shape == (3, 4)
    with pytest.raises(jacx.JacxUsageError, match=r"events of shape \(2,\)"):
        flow.log_prob(jnp.zeros((3, 5)))
    with pytest.raises(jacx.JacxUsageError, match="data set 'spiral'"):
        make_dataset("spiral", jax.random.key(0), 10)
    with pytest.raises(jacx.JacxUsageError, match="at least 2"):
        realnvp(jax.random.key(0), 1)


def test_datasets():
    key = jax.random.key(0)
    board = np.asarray(checkerboard(key, 2000))
    cells = np.floor(board + 2.0).astype(int)
    assert np.all((cells[:, 0] + cells[:, 1]) % 2 == 0)  # only the dark squares: col + row even
    r = np.linalg.norm(np.asarray(rings(key, 3000, noise=0.0)), axis=1)
    np.testing.assert_allclose(np.sort(np.unique(np.round(r, 6))), [0.8, 1.6, 2.4], rtol=1e-5)
    moons = np.asarray(two_moons(key, 1000, noise=0.0))
    assert moons.shape == (1000, 2) and np.abs(moons).max() < 2.5


def test_training_improves_likelihood_and_stays_normalised():
    data = two_moons(jax.random.key(0), 2000)
    flow = realnvp(jax.random.key(1), 2, num_layers=4, hidden=(32, 32))
    before = -float(jnp.mean(flow.log_prob(data)))
    result = train(flow, data, key=jax.random.key(2), steps=400, batch_size=256, learning_rate=3e-3, progress=False)
    after = -float(jnp.mean(result.flow.log_prob(data)))
    assert result.losses.shape == (400,)
    assert after < before - 0.5  # identity start: N(0, I) on the moons; training must help a lot
    assert abs(grid_integral(result.flow, ((-6.0, 6.0), (-6.0, 6.0)), 400) - 1.0) < 0.01
