"""Elementwise bijectors: diagonal Jacobians, so ``log|det J|`` is a sum over entries."""

from __future__ import annotations

from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import JacxUsageError
from ..logdet._util import pytree_dataclass, static_field
from ._base import Bijector

__all__ = ["Affine", "Tanh", "Sigmoid", "LeakyReLU"]


def _broadcast(value: jax.Array, shape: tuple[int, ...], name: str) -> jax.Array:
    try:
        return jnp.broadcast_to(value, shape)
    except (ValueError, TypeError):
        raise JacxUsageError(
            f"Affine's {name} has shape {jnp.shape(value)}, which does not broadcast to the event shape {shape}. "
            f"Fix: pass events of the shape the bijector was built for, or a {name} that broadcasts to {shape}."
        ) from None


def _diagonal_pattern(x: Any) -> np.ndarray:
    return np.eye(int(np.size(x)), dtype=bool)


@final
@pytree_dataclass
class Affine(Bijector):
    """``y = scale * x + shift`` entrywise (``scale`` may be negative: that entry reverses orientation).

    ``scale`` and ``shift`` broadcast against the event.  ``log|det J| = sum log|scale|``.

    >>> import jax.numpy as jnp
    >>> float(Affine(jnp.array(3.0), jnp.array(1.0)).forward_log_det_jacobian(jnp.zeros(2)))   # 2 log 3
    2.197...
    """

    scale: jax.Array
    shift: jax.Array

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        scale, shift = _broadcast(self.scale, jnp.shape(x), "scale"), _broadcast(self.shift, jnp.shape(x), "shift")
        return scale * x + shift, jnp.sum(jnp.log(jnp.abs(scale)))

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        scale, shift = _broadcast(self.scale, jnp.shape(y), "scale"), _broadcast(self.shift, jnp.shape(y), "shift")
        return (y - shift) / scale, -jnp.sum(jnp.log(jnp.abs(scale)))

    def jacobian_pattern(self, x: Any) -> np.ndarray:
        return _diagonal_pattern(x)


def _log_tanh_derivative(x: jax.Array) -> jax.Array:
    # log(1 - tanh(x)^2) = 2 (log 2 - x - softplus(-2x)), stable for large |x|
    return 2.0 * (jnp.log(2.0) - x - jax.nn.softplus(-2.0 * x))


@final
@pytree_dataclass
class Tanh(Bijector):
    """``y = tanh(x)`` entrywise, a bijection from the reals onto ``(-1, 1)``.

    >>> import jax.numpy as jnp
    >>> float(Tanh().forward_log_det_jacobian(jnp.zeros(3)))   # tanh'(0) = 1
    0.0
    """

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jnp.tanh(x), jnp.sum(_log_tanh_derivative(x))

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = jnp.arctanh(y)
        return x, -jnp.sum(_log_tanh_derivative(x))

    def jacobian_pattern(self, x: Any) -> np.ndarray:
        return _diagonal_pattern(x)


@final
@pytree_dataclass
class Sigmoid(Bijector):
    """``y = 1 / (1 + exp(-x))`` entrywise, a bijection from the reals onto ``(0, 1)``.

    >>> import jax.numpy as jnp
    >>> float(Sigmoid().forward_log_det_jacobian(jnp.zeros(1)))   # log(1/4)
    -1.386...
    """

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.nn.sigmoid(x), jnp.sum(-jax.nn.softplus(-x) - jax.nn.softplus(x))

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = jnp.log(y) - jnp.log1p(-y)
        return x, jnp.sum(jax.nn.softplus(-x) + jax.nn.softplus(x))

    def jacobian_pattern(self, x: Any) -> np.ndarray:
        return _diagonal_pattern(x)


@final
@pytree_dataclass
class LeakyReLU(Bijector):
    """``y = x`` for ``x >= 0`` and ``negative_slope * x`` otherwise (``negative_slope > 0``).

    >>> import jax.numpy as jnp
    >>> b = LeakyReLU(0.5)
    >>> b.forward(jnp.array([-2.0, 3.0])), float(b.forward_log_det_jacobian(jnp.array([-2.0, 3.0])))
    (Array([-1.,  3.], dtype=float32), -0.693...)
    """

    negative_slope: float = static_field(default=0.01)

    def __post_init__(self) -> None:
        if not float(self.negative_slope) > 0.0:
            raise JacxUsageError(
                f"received negative_slope={self.negative_slope!r}; LeakyReLU is invertible only for a slope > 0."
            )

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        a = self.negative_slope
        return jnp.where(x >= 0, x, a * x), jnp.sum(jnp.where(x >= 0, 0.0, jnp.log(a)))

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        a = self.negative_slope
        return jnp.where(y >= 0, y, y / a), -jnp.sum(jnp.where(y >= 0, 0.0, jnp.log(a)))

    def jacobian_pattern(self, x: Any) -> np.ndarray:
        return _diagonal_pattern(x)
