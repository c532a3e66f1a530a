"""Log-determinants and traces follow the state f reads, including a change of its sparsity structure."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacx
import jacx.logdet as ld

X = jnp.array([0.2, -0.4, 0.9])


@pytest.mark.parametrize("entry", ["logdet", "slogdet", "trace"])
def test_structure_change_in_a_params_dict(entry):
    params = {"M": jnp.diag(jnp.array([2.0, 3.0, 0.5]))}  # diagonal first: one JVP suffices
    f = lambda v: jnp.tanh(params["M"] @ v) + v
    fn = {"logdet": ld.logdet, "slogdet": ld.slogdet, "trace": ld.trace}[entry]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.JacxWarning)
        for M in (params["M"], jnp.array([[2.0, 1.0, 0.0], [0.5, 3.0, 1.0], [1.0, 0.2, 0.5]])):
            params["M"] = M
            J = np.asarray(jax.jacfwd(f)(X), dtype=np.float64)
            got = fn(f)(X)
            if entry == "trace":
                np.testing.assert_allclose(got.value, np.trace(J), rtol=1e-5)
            else:
                np.testing.assert_allclose(got.logabsdet, np.linalg.slogdet(J)[1], rtol=1e-5, atol=1e-6)


def test_logdet_in_a_loop_is_compiled_once():
    from jacx import _autojit

    jacx.clear_caches()
    f = lambda v: jnp.tanh(2.0 * v) + v
    for _ in range(5):
        ld.logdet(f)(X)
    assert len(_autojit._programs) == 1
