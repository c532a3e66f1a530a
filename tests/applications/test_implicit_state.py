"""Implicit solves follow the state F reads: never a root of the old F, concrete or under jax.grad."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

import jacx
from jacx.implicit import fixed_point, root


def test_root_follows_a_params_dict_updated_in_place():
    params = {"c": jnp.array([1.0, 4.0])}
    F = lambda x, theta: x**2 - params["c"] * theta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.JacxWarning)
        for c in ([1.0, 4.0], [9.0, 16.0], [2.0, 3.0]):
            params["c"] = jnp.array(c)
            x = root(F, jnp.ones(2), 1.0)
            np.testing.assert_allclose(x, np.sqrt(c), rtol=1e-5)


def test_root_follows_a_rebound_global_read_by_a_helper():
    ns = {"jnp": jnp, "C": jnp.array([4.0])}
    exec("def residual(x, theta):\n    return x**2 - C * theta\n", ns)
    F = ns["residual"]
    np.testing.assert_allclose(root(F, jnp.ones(1), 1.0), [2.0], rtol=1e-5)
    ns["C"] = jnp.array([25.0])
    np.testing.assert_allclose(root(F, jnp.ones(1), 1.0), [5.0], rtol=1e-5)


def test_gradient_through_a_fixed_point_follows_a_list_entry():
    rates = [0.5]
    T = lambda x, theta: rates[0] * x + theta  # x* = theta / (1 - rate)
    g = lambda th: fixed_point(T, jnp.zeros(1), th)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.JacxWarning)
        for rate in (0.5, 0.75, 0.2):
            rates[0] = rate
            np.testing.assert_allclose(jax.grad(g)(1.0), 1.0 / (1.0 - rate), rtol=1e-4)
