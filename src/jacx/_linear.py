"""The linear approximation F(x + dx) ~ F(x) + J(x) dx, together with its actual error."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, final

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ._api import check_function
from ._api import check_input_dtypes
from ._dense import _raise_not_finite, jacobian
from ._errors import JacxUsageError

__all__ = ["Linearization", "linearize"]


@final
class Linearization:
    """``F`` linearised at a point: the value, the Jacobian, the affine model and its error.

    Made by :func:`jacx.linearize`. ``lin(dx)`` is ``F(x) + J dx`` (computed with one JVP, without forming ``J``);
    ``lin.jacobian`` forms ``J`` on first use; ``lin.error(dx)`` is the true error of the model,
    ``||F(x + dx) - (F(x) + J dx)||``, which shrinks like ``||dx||^2`` for smooth ``F``.

    >>> import jax.numpy as jnp, jacx
    >>> lin = jacx.linearize(lambda v: v ** 2, jnp.array([1.0, 2.0]))
    >>> lin.jacobian
    Array([[2., 0.],
           [0., 4.]], dtype=float32)
    >>> lin.error(jnp.array([0.1, 0.0])) < lin.error(jnp.array([0.2, 0.0]))   # the error grows like dx^2
    True
    """

    def __init__(self, f: Callable, point: Any, value: Any, push: Callable) -> None:
        self.function = f
        self.point = point
        self.value = value
        self._push = push

    @cached_property
    def jacobian(self) -> Any:
        """The Jacobian at the point, laid out like :func:`jax.jacfwd` (output shape + input shape)."""
        return jacobian(self.function, check_finite=True)(self.point)

    def _check_step(self, dx: Any) -> None:
        want = jax.tree_util.tree_structure(self.point)
        got = jax.tree_util.tree_structure(dx)
        shapes_ok = want == got and all(
            jnp.shape(a) == jnp.shape(b)
            for a, b in zip(jax.tree_util.tree_leaves(self.point), jax.tree_util.tree_leaves(dx))
        )
        if not shapes_ok:
            shape = jax.tree_util.tree_map(jnp.shape, self.point)
            got_shape = jax.tree_util.tree_map(jnp.shape, dx)
            raise JacxUsageError(
                f"The step dx must have the same structure and shapes as the point x: expected {shape}, got "
                f"{got_shape}."
            )

    def __call__(self, dx: Any) -> Any:
        """The affine model ``F(x) + J dx``."""
        self._check_step(dx)
        dx = jax.tree_util.tree_map(lambda a, b: jnp.asarray(b, jnp.result_type(a)), self.point, dx)
        return jax.tree_util.tree_map(jnp.add, self.value, self._push(dx))

    def error(self, dx: Any, *, relative: bool = False) -> float:
        """``||F(x + dx) - (F(x) + J dx)||`` (2-norm over all outputs); divided by ``||F(x + dx) - F(x)||`` if
        ``relative``."""
        model = self(dx)
        moved = jax.tree_util.tree_map(jnp.add, self.point, dx)
        actual = self.function(moved)
        diff = ravel_pytree(jax.tree_util.tree_map(jnp.subtract, actual, model))[0]
        err = float(jnp.linalg.norm(diff))
        if relative:
            change = ravel_pytree(jax.tree_util.tree_map(jnp.subtract, actual, self.value))[0]
            scale = float(jnp.linalg.norm(change))
            return err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))
        return err

    def __repr__(self) -> str:
        shape = jax.tree_util.tree_map(jnp.shape, self.point)
        return f"Linearization(at point of shape {shape})"


def linearize(f: Callable, x: Any) -> Linearization:
    """Linearise ``f`` at ``x``: ``F(x + dx) ~ F(x) + J(x) dx``, with the model's actual error.

    >>> import jax.numpy as jnp, jacx
    >>> F = lambda v: jnp.array([v[0] ** 2 + v[1], v[0] * v[1]])
    >>> lin = jacx.linearize(F, jnp.array([1.0, 2.0]))
    >>> lin.value
    Array([3., 2.], dtype=float32)
    >>> lin(jnp.array([0.1, 0.0]))          # F(x) + J dx
    Array([3.2, 2.2], dtype=float32)
    >>> round(lin.error(jnp.array([0.1, 0.0])), 4)   # the true F(1.1, 2) is (3.21, 2.2)
    0.01
    """
    check_function(f, "jacx.linearize")
    check_input_dtypes(x, "jacx.linearize")
    value, push = jax.linearize(f, x)
    lin = Linearization(f, x, value, push)
    if not all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree_util.tree_leaves(value)):
        _raise_not_finite(value, (x,), "value F(x)")
    return lin
