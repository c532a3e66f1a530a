"""A chain's layers are traced once each per log-det trace (no extra pass to find each layer's output layout)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jacx.logdet as ld
from jacx.flows import realnvp
from jacx.flows import _coupling


def test_chain_layers_traced_once_each(monkeypatch):
    bij = realnvp(jax.random.key(0), 6, num_layers=3, hidden=(8,)).bijector
    bij = jax.tree_util.tree_map(lambda a: a + 0.1, bij)
    calls = [0]
    original = _coupling.AffineCoupling.forward_and_log_det

    def counted(self, x):
        calls[0] += 1
        return original(self, x)

    monkeypatch.setattr(_coupling.AffineCoupling, "forward_and_log_det", counted)
    x = jnp.linspace(-0.5, 0.5, 6)
    r = ld.logdet(bij)(x)
    assert calls[0] <= 3
    J = np.asarray(jax.jacfwd(bij.forward)(x), np.float64)
    np.testing.assert_allclose(float(r.logabsdet), np.linalg.slogdet(J)[1], rtol=1e-5, atol=1e-5)
