"""Composition of bijectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import final

import jax
import jax.numpy as jnp

from .._errors import JacxUsageError
from ..logdet._util import pytree_dataclass
from ._base import Bijector

__all__ = ["Chain"]


@final
@pytree_dataclass
class Chain(Bijector):
    """Composition ``F = F_k o ... o F_1``: ``bijectors[0]`` is applied first.  Log-determinants add up.

    :func:`jacx.logdet.logdet` sees the layers through ``jacx_layers`` and treats each with its own structure.

    >>> import jax.numpy as jnp
    >>> from jacx.flows import Affine, Tanh
    >>> c = Chain((Affine(jnp.array(2.0), jnp.array(0.0)), Tanh()))
    >>> c.forward(jnp.zeros(2)), float(c.forward_log_det_jacobian(jnp.zeros(2)))   # 2 log 2 + 0
    (Array([0., 0.], dtype=float32), 1.386...)
    """

    bijectors: tuple[Bijector, ...]

    def __post_init__(self) -> None:
        bad = [type(b).__name__ for b in self.bijectors if not isinstance(b, Bijector)]
        if bad or not isinstance(self.bijectors, tuple):
            raise JacxUsageError(
                f"Chain takes a tuple of bijectors; received {type(self.bijectors).__name__} with entries of type "
                f"{bad or '?'}. Fix: Chain((b1, b2, ...))."
            )

    @classmethod
    def of(cls, *bijectors: Bijector | Sequence[Bijector]) -> Chain:
        """``Chain.of(b1, b2, ...)``, flattening nested sequences."""
        flat: list[Bijector] = []
        for b in bijectors:
            flat.extend(b if isinstance(b, (list, tuple)) else [b])
        return cls(tuple(flat))

    @property
    def jacx_layers(self) -> tuple[Bijector, ...]:
        """The layers, in the order they are applied."""
        return self.bijectors

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        total = jnp.zeros((), jnp.result_type(x))
        for b in self.bijectors:
            x, ld = b.forward_and_log_det(x)
            total = total + ld
        return x, total

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        total = jnp.zeros((), jnp.result_type(y))
        for b in reversed(self.bijectors):
            y, ld = b.inverse_and_log_det(y)
            total = total + ld
        return y, total
