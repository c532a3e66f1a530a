"""Shared fixtures and bijector cases for the flow tests."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jacx.flows import (
    MADE,
    MLP,
    Affine,
    AffineCoupling,
    Chain,
    Conv1x1,
    LeakyReLU,
    LULinear,
    MaskedAutoregressive,
    Permute,
    Planar,
    Radial,
    Residual,
    Sigmoid,
    Tanh,
)


def _randomize(tree, key, scale=0.5):
    """Replace every parameter leaf by random values (so no layer is the identity)."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    keys = jax.random.split(key, max(len(leaves), 1))
    new = [scale * jax.random.normal(k, jnp.shape(a), jnp.result_type(a)) for k, a in zip(keys, leaves)]
    return jax.tree_util.tree_unflatten(treedef, new)


@functools.lru_cache(maxsize=None)
def make_case(name: str, seed: int = 0):
    """A bijector with random float64 parameters and a point in its domain (call under x64; cached)."""
    key = jax.random.key(seed)
    kp, kx = jax.random.split(key)
    x = jax.random.normal(kx, (5,), jnp.float64)
    f64 = jnp.float64
    if name == "affine":
        b = Affine(jnp.array([2.0, -0.5, 1.5, -3.0, 0.7]), jnp.array([0.1, 0.2, -0.3, 0.0, 1.0]))
    elif name == "tanh":
        b = Tanh()
    elif name == "sigmoid":
        b = Sigmoid()
    elif name == "leaky_relu":
        b = LeakyReLU(0.3)
        x = jnp.array([-1.5, 0.7, -0.2, 2.0, -3.0])
    elif name == "lu_linear":
        b = _randomize(LULinear.init(kp, 5, f64), kp)
        b = LULinear(b.lower, b.upper, b.log_diag, b.bias, (3, 0, 4, 1, 2), (1.0, -1.0, 1.0, 1.0, -1.0))
    elif name == "conv1x1":
        b = _randomize(Conv1x1.init(kp, 3, f64), kp)
        b = Conv1x1(b.lower, b.upper, b.log_diag, b.bias, b.perm, (-1.0, 1.0, 1.0))
        x = jax.random.normal(kx, (2, 2, 3), f64)
    elif name == "permute":
        b = Permute((4, 2, 0, 1, 3))
    elif name == "planar":
        b = _randomize(Planar.init(kp, 5, f64), kp, 1.0)
    elif name == "radial":
        b = _randomize(Radial.init(kp, 5, f64), kp, 1.0)
    elif name == "coupling":
        b = AffineCoupling.init(kp, (True, False, False, True, False), (16,), zero_last=False, dtype=f64)
        b = _randomize(b, kp)
    elif name == "coupling_halves":  # halves: picked by slices, merged by a concatenation
        b = _randomize(AffineCoupling.init(kp, (False, False, True, True, True), (16,), dtype=f64), kp)
    elif name == "coupling_interleaved":  # alternating entries: strided slices, merged by interleaving
        b = _randomize(AffineCoupling.init(kp, (True, False) * 3, (16,), dtype=f64), kp)
        x = jax.random.normal(kx, (6,), jnp.float64)
    elif name == "maf":
        b = _randomize(MaskedAutoregressive.init(kp, 5, (16, 16), zero_last=False, dtype=f64), kp)
    elif name == "residual":
        b = _randomize(Residual.init(kp, 5, (16,), lipschitz=0.8, dtype=f64), kp, 1.0)
    elif name == "chain":
        k1, k2, k3 = jax.random.split(kp, 3)
        b = Chain(
            (
                _randomize(AffineCoupling.init(k1, (True, True, False, False, False), (8,), dtype=f64), k1),
                Permute((4, 3, 2, 1, 0)),
                _randomize(MaskedAutoregressive.init(k2, 5, (8,), dtype=f64), k2),
                Affine(jnp.array(-1.3), jnp.array(0.2)),
                _randomize(LULinear.init(k3, 5, f64), k3),
            )
        )
    elif name == "chain_nested":  # a chain inside a chain, with a mixing layer and a dense (declared) layer
        k1, k2, k3 = jax.random.split(kp, 3)
        inner = Chain((_randomize(LULinear.init(k1, 5, f64), k1), Tanh()))
        b = Chain(
            (
                _randomize(AffineCoupling.init(k2, (False, True, False, True, False), (8,), dtype=f64), k2),
                inner,
                _randomize(Planar.init(k3, 5, f64), k3, 1.0),
                _randomize(AffineCoupling.init(k3, (True, True, True, False, False), (8,), dtype=f64), k3),
            )
        )
    else:  # pragma: no cover
        raise KeyError(name)
    return b, x


BIJECTORS = [
    "affine",
    "tanh",
    "sigmoid",
    "leaky_relu",
    "lu_linear",
    "conv1x1",
    "permute",
    "planar",
    "radial",
    "coupling",
    "coupling_halves",
    "coupling_interleaved",
    "maf",
    "residual",
    "chain",
    "chain_nested",
]

__all__ = ["BIJECTORS", "make_case", "MLP", "MADE"]
