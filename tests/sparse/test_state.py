"""A prepared sparse Jacobian follows the state its function reads: new values, and new nonzeros, never stale."""

from __future__ import annotations

import gc
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacx
import jacx.sparse

X = jnp.linspace(0.1, 1.0, 6)


def _dense(jac, x):
    return np.asarray(jac(x).todense())


def test_rebound_global_gives_new_values():
    ns = {"jnp": jnp, "C": jnp.arange(1.0, 6.0)}
    exec("def f(x):\n    return C * x[1:] ** 2 - x[:-1]\n", ns)
    f = ns["f"]
    jac = jacx.sparse.jacobian(f, X)
    np.testing.assert_allclose(_dense(jac, X), jax.jacfwd(f)(X), rtol=1e-6)
    ns["C"] = jnp.arange(1.0, 6.0) * -3.0  # same zeros, other values
    np.testing.assert_allclose(_dense(jac, X), jax.jacfwd(f)(X), rtol=1e-6)


def test_params_dict_updated_in_place():
    params = {"c": jnp.ones(5)}
    f = lambda x: params["c"] * jnp.sin(x[1:]) * x[:-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.JacxWarning)
        jac = jacx.sparse.jacobian(f, X)
        for step in range(3):
            params["c"] = params["c"] * 2.0 + step
            np.testing.assert_allclose(_dense(jac, X), jax.jacfwd(f)(X), rtol=1e-6)
            np.testing.assert_allclose(jac.to_scipy(X).toarray(), jax.jacfwd(f)(X), rtol=1e-6)


def test_state_change_that_adds_nonzeros_prepares_again():
    # M starts diagonal; afterwards it couples everything: the old coloring would miss entries
    ns = {"jnp": jnp, "M": jnp.eye(6)}
    exec("def f(x):\n    return jnp.tanh(M @ x)\n", ns)
    f = ns["f"]
    jac = jacx.sparse.jacobian(f, X)
    assert jac.n_colors == 1
    ns["M"] = jnp.ones((6, 6)) + jnp.eye(6)
    with pytest.warns(jacx.JacxWarning, match="gained .* nonzeros"):
        got = _dense(jac, X)
    np.testing.assert_allclose(got, jax.jacfwd(f)(X), rtol=1e-6)
    assert jac.n_colors == 6


def test_id_reuse_after_garbage_collection_in_sparsity_detection():
    ns = {"jnp": jnp, "M": jnp.eye(4)}
    exec("def f(x):\n    return M @ x\n", ns)
    f = ns["f"]
    x = jnp.ones(4)
    for k in range(5):
        ns["M"] = None
        gc.collect()
        ns["M"] = jnp.eye(4) + jnp.eye(4, k=1) * k  # may get the old id: must not reuse the old pattern
        want = (np.eye(4) + np.eye(4, k=1) * k) != 0
        np.testing.assert_array_equal(jacx.sparse.sparsity(f, x).toarray(), want)
