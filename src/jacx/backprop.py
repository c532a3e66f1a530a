"""Backpropagation made visible: the gradient of a network is a product of layer Jacobians, taken output first.

For an MLP h_{k+1} = phi_k(W_k h_k + b_k) with loss L(h_K), the chain rule gives

    dL/dh_0 = dL/dh_K . J_{K-1} . ... . J_0,      J_k = d h_{k+1} / d h_k = diag(phi_k'(.)) W_k,

and the same row vector, stopped at layer k, gives every weight gradient: dL/dW_k = (dL/dh_{k+1} . diag(phi_k'))^T
h_k^T.  Multiplying from the left (output to input) keeps a *vector* in hand at every step: that is reverse mode.
Multiplying the matrices first, or from the right, builds d_K x d_0 (or wider) intermediates: the cost that
reverse mode exists to avoid.  :func:`product_costs` counts both; ``benchmarks/bench_backprop.py`` times them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jacx._dense import jacobian
from jacx._errors import JacxUsageError

__all__ = [
    "init_mlp",
    "mlp",
    "layer_jacobians",
    "backprop_by_jacobians",
    "input_output_jacobian_by_product",
    "product_costs",
]

Params = list[tuple[jax.Array, jax.Array]]


def init_mlp(key: jax.Array, sizes: Sequence[int]) -> Params:
    """Weights (out, in) and biases for layer widths ``sizes`` (input first), scaled by 1/sqrt(fan-in).

    >>> [w.shape for w, _ in init_mlp(jax.random.PRNGKey(0), [3, 5, 2])]
    [(5, 3), (2, 5)]
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise JacxUsageError(f"sizes needs at least two positive widths (input, ..., output); received {sizes}.")
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (jax.random.normal(k, (n_out, n_in)) / jnp.sqrt(n_in), jnp.zeros(n_out))
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def _layer(params: Params, k: int, h: jax.Array) -> jax.Array:
    W, b = params[k]
    z = W @ h + b
    return z if k == len(params) - 1 else jnp.tanh(z)  # tanh hidden layers, linear output


def mlp(params: Params, x: jax.Array) -> jax.Array:
    """The network's output for one input vector ``x``.

    >>> mlp(init_mlp(jax.random.PRNGKey(0), [3, 4, 2]), jnp.ones(3)).shape
    (2,)
    """
    h = jnp.asarray(x)
    for k in range(len(params)):
        h = _layer(params, k, h)
    return h


def _activations(params: Params, x: jax.Array) -> list[jax.Array]:
    hs = [jnp.asarray(x)]
    for k in range(len(params)):
        hs.append(_layer(params, k, hs[-1]))
    return hs


def _check_input(params: Params, x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    width = params[0][0].shape[1] if params else None
    if x.shape != (width,) or not jnp.issubdtype(x.dtype, jnp.floating):
        raise JacxUsageError(
            f"The network takes one input vector of shape ({width},) with float entries; received shape {x.shape} "
            f"and dtype {x.dtype}. Pass a single example (use jax.vmap for a batch) as floats."
        )
    return x


def layer_jacobians(params: Params, x: ArrayLike) -> list[jax.Array]:
    """J_k = d h_{k+1} / d h_k at the forward pass through ``x``, for every layer, from ``jacx.jacobian``.

    >>> [J.shape for J in layer_jacobians(init_mlp(jax.random.PRNGKey(0), [3, 4, 2]), jnp.ones(3))]
    [(4, 3), (2, 4)]
    """
    return _layer_jacobians(params, _check_input(params, x))


@jax.jit
def _layer_jacobians(params: Params, x: jax.Array) -> list[jax.Array]:
    hs = _activations(params, x)
    return [jacobian(functools.partial(_layer, params, k))(hs[k]) for k in range(len(params))]


def backprop_by_jacobians(
    params: Params, x: ArrayLike, loss: Callable[[jax.Array], jax.Array]
) -> tuple[jax.Array, Params]:
    """Gradients of ``loss(mlp(params, x))`` with respect to ``x`` and to every (W, b), computed by hand as the
    row vector dL/dh_K multiplied through the layer Jacobians from output to input.

    Equal to ``jax.grad`` (the tests check it); written out to show what reverse mode does.

    >>> p = init_mlp(jax.random.PRNGKey(0), [3, 4, 2])
    >>> gx, _ = backprop_by_jacobians(p, jnp.ones(3), jnp.sum)
    >>> bool(jnp.allclose(gx, jax.grad(lambda x: jnp.sum(mlp(p, x)))(jnp.ones(3)), atol=1e-6))
    True
    """
    return _backprop(params, _check_input(params, x), loss)


@functools.partial(jax.jit, static_argnums=2)
def _backprop(params: Params, x: jax.Array, loss: Callable) -> tuple[jax.Array, Params]:
    hs = _activations(params, x)
    Js = _layer_jacobians(params, x)
    g = jacobian(loss)(hs[-1])  # dL/dh_K, a row vector
    grads: Params = []
    for k in reversed(range(len(params))):
        # dL/dz_k: through the activation only (the Jacobian of h_{k+1} = phi(z_k) w.r.t. z_k is diagonal)
        W, _ = params[k]
        dphi = jnp.ones_like(hs[k + 1]) if k == len(params) - 1 else 1.0 - hs[k + 1] ** 2
        delta = g * dphi
        grads.append((jnp.outer(delta, hs[k]), delta))
        g = g @ Js[k]  # vector times matrix: the step that reverse mode repeats
    return g, grads[::-1]


def input_output_jacobian_by_product(params: Params, x: ArrayLike, order: str = "reverse") -> jax.Array:
    """The full d_K x d_0 Jacobian as the matrix product J_{K-1} ... J_0, multiplied from the output end
    (``"reverse"``) or from the input end (``"forward"``).

    >>> p = init_mlp(jax.random.PRNGKey(0), [3, 4, 2])
    >>> input_output_jacobian_by_product(p, jnp.ones(3)).shape
    (2, 3)
    """
    if order not in ("reverse", "forward"):
        raise JacxUsageError(f"order must be 'reverse' or 'forward'; received {order!r}.")
    Js = layer_jacobians(params, x)
    if order == "forward":
        M = Js[0]
        for J in Js[1:]:
            M = J @ M
        return M
    M = Js[-1]
    for J in reversed(Js[:-1]):
        M = M @ J
    return M


def product_costs(sizes: Sequence[int]) -> dict[str, int]:
    """Multiply-add counts for the input gradient of a scalar loss through layers of widths ``sizes``.

    * ``"vjp_chain"``: the loss's row vector through every layer Jacobian (reverse mode): sum d_{k+1} d_k.
    * ``"jvp_chain"``: the product from the input end, carrying d_0 tangent columns (forward mode):
      d_0 sum d_{k+1} d_k.
    * ``"materialise_then_apply"``: form the full input-output Jacobian as a matrix product of the layer
      Jacobians (from the input end, J_0 is d_1 x d_0), then apply the loss's row vector:
      d_1 d_0 + sum_{k >= 1} d_{k+1} d_k d_0 + d_K d_0.

    >>> product_costs([100, 100, 100, 1])
    {'vjp_chain': 20100, 'jvp_chain': 2010000, 'materialise_then_apply': 1020100}
    """
    d = [int(s) for s in sizes]
    if len(d) < 2 or min(d) < 1:
        raise JacxUsageError(f"sizes needs at least two positive widths (input, ..., output); received {d}.")
    vjp = sum(d[k + 1] * d[k] for k in range(len(d) - 1))
    materialise = d[1] * d[0] + sum(d[k + 1] * d[k] * d[0] for k in range(1, len(d) - 1)) + d[-1] * d[0]
    return {"vjp_chain": vjp, "jvp_chain": d[0] * vjp, "materialise_then_apply": materialise}
