"""The chain rule, shown and used: J_{G o H}(x) = J_G(H(x)) J_H(x).

For a chain of layers ``x_0 -> f_1 -> x_1 -> ... -> f_L -> x_L`` the Jacobian of the whole chain is the product
``J_L J_{L-1} ... J_1`` of each layer's Jacobian *at its own input*, written output to input. It is a matrix
product because every output depends on every intermediate value: the derivative sums over all paths.
Backpropagation is this product applied to a row vector from the left, one VJP per layer, so no Jacobian is ever
formed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property, reduce
from typing import Any, final

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ._api import check_function
from ._dense import Mode, jacobian_matrix
from ._errors import JacxUsageError

__all__ = ["ChainRule", "chain_rule", "compose"]


def compose(*layers: Callable) -> Callable:
    """The composition applying ``layers`` first to last: ``compose(H, G)(x) == G(H(x))``.

    >>> compose(lambda x: x + 1, lambda x: 2 * x)(3)
    8
    """
    for k, layer in enumerate(layers):
        check_function(layer, f"jacx.compose (layer {k})")

    def composed(x: Any) -> Any:
        for layer in layers:
            x = layer(x)
        return x

    return composed


@final
class ChainRule:
    """The chain rule for one chain of layers at one point (made by :func:`jacx.chain_rule`).

    Attributes:
        layers: the functions, in the order they are applied (input to output).
        points: ``points[k]`` is the input of ``layers[k]``; ``points[-1]`` is the chain's output.
        factors: ``factors[k]`` is the Jacobian matrix of ``layers[k]`` at ``points[k]`` (flattened to 2-D).

    >>> import jax.numpy as jnp, jacx
    >>> c = jacx.chain_rule([lambda v: 2.0 * v, lambda u: jnp.array([u[0] * u[1]])], jnp.array([1.0, 3.0]))
    >>> c
    ChainRule(2 layers; factors output to input: 1x2 <- 2x2)
    >>> c.product                             # d(4 v0 v1)/dv = (4 v1, 4 v0)
    Array([[12.,  4.]], dtype=float32)
    >>> c.backprop(jnp.ones(1))[0]            # the same row, by VJPs
    Array([12.,  4.], dtype=float32)
    """

    def __init__(self, layers: Sequence[Callable], points: list[Any], factors: list[jax.Array], mode: Mode) -> None:
        self.layers = tuple(layers)
        self.points = points
        self.factors = factors
        self._mode = mode

    @cached_property
    def product(self) -> jax.Array:
        """``J_L ... J_2 J_1``: the factors multiplied output to input; equals the Jacobian of the composition."""
        return reduce(lambda acc, J: acc @ J, reversed(self.factors[:-1]), self.factors[-1])

    @cached_property
    def direct(self) -> jax.Array:
        """The Jacobian of the whole composition computed in one go by AD (the reference for :attr:`product`)."""
        return jacobian_matrix(compose(*self.layers), mode=self._mode)(self.points[0])

    @property
    def max_abs_difference(self) -> float:
        """``max |product - direct|``: zero up to rounding, which is what the chain rule says."""
        return float(jnp.max(jnp.abs(self.product - self.direct)))

    def backprop(self, cotangent: Any) -> list[jax.Array]:
        """Reverse mode by hand: pull the row vector ``v`` back through the layers, output to input, by VJPs.

        Returns the cotangent at every layer's input, flattened: ``result[k]`` is ``v J_L ... J_{k+1}``;
        ``result[0]`` is ``v`` times the whole Jacobian (the gradient of ``v . F`` at the input).
        """
        v = ravel_pytree(cotangent)[0]
        out_size = ravel_pytree(self.points[-1])[0].size
        if v.size != out_size:
            raise JacxUsageError(
                f"backprop needs a cotangent with one entry per output ({out_size}), got {v.size} entries."
            )
        cotangents = [v]
        for layer, point in zip(reversed(self.layers), reversed(self.points[:-1])):
            flat_in, unravel_in = ravel_pytree(point)
            _, pull = jax.vjp(lambda z, layer=layer, unravel_in=unravel_in: ravel_pytree(layer(unravel_in(z)))[0], flat_in)
            cotangents.append(pull(cotangents[-1])[0])
        return cotangents[::-1]

    def __repr__(self) -> str:
        shapes = " <- ".join(f"{J.shape[0]}x{J.shape[1]}" for J in reversed(self.factors))
        return f"ChainRule({len(self.layers)} layers; factors output to input: {shapes})"


def chain_rule(layers: Sequence[Callable], x: Any, *, mode: Mode = "auto") -> ChainRule:
    """Evaluate a chain of layers at ``x`` and return each layer's Jacobian at its own input, and their product.

    ``layers`` are given in the order they are applied: ``chain_rule([H, G], x)`` is about ``G(H(x))``, whose
    Jacobian is ``J_G(H(x)) @ J_H(x)``.

    >>> import jax.numpy as jnp, jacx
    >>> H = lambda v: jnp.array([v[0] * v[1], v[0] + v[1]])
    >>> G = lambda u: jnp.array([jnp.sin(u[0]), u[0] * u[1]])
    >>> c = jacx.chain_rule([H, G], jnp.array([1.0, 2.0]))
    >>> [J.shape for J in c.factors]
    [(2, 2), (2, 2)]
    >>> c.max_abs_difference < 1e-6      # J_G(H(x)) J_H(x) equals the Jacobian of G o H
    True
    """
    if not isinstance(layers, Sequence) or len(layers) == 0:
        raise JacxUsageError(f"chain_rule needs a non-empty list of functions (layers), got {layers!r:.80}.")
    for k, layer in enumerate(layers):
        check_function(layer, f"jacx.chain_rule (layer {k})")
    points, factors = [x], []
    for layer in layers:
        factors.append(jacobian_matrix(layer, mode=mode)(points[-1]))
        points.append(layer(points[-1]))
    return ChainRule(layers, points, factors, mode)
