"""The bijector base class: one method to implement, everything else derived from it."""

from __future__ import annotations

import abc
import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from .._errors import JacxUsageError

__all__ = ["Bijector", "NotInvertibleError"]


_BATCH_HINT: contextvars.ContextVar[int | None] = contextvars.ContextVar("jacx_flows_batch", default=None)


@contextlib.contextmanager
def batch_hint(size: int) -> Iterator[None]:
    """While tracing a per-event bijector under ``jax.vmap`` over ``size`` events, let it know ``size`` (it cannot
    see the batch axis itself).  A bijector may then pick the algorithm that is faster for that many events; the
    result is the same function either way.  ``Flow.sample`` uses it.

    >>> with batch_hint(4):
    ...     batch_size_hint()
    4
    >>> batch_size_hint() is None
    True
    """
    token = _BATCH_HINT.set(int(size))
    try:
        yield
    finally:
        _BATCH_HINT.reset(token)


def batch_size_hint() -> int | None:
    """The number of events set by an enclosing :func:`batch_hint`, else ``None`` (unknown)."""
    return _BATCH_HINT.get()


class NotInvertibleError(JacxUsageError):
    """The inverse of a bijector was requested but it has no (implemented) inverse.

    >>> issubclass(NotInvertibleError, ValueError)
    True
    """


class Bijector(abc.ABC):
    """An invertible map ``y = F(x)`` that knows its log-volume change ``log|det J_F(x)|``.

    Subclasses implement :meth:`forward_and_log_det` (and :meth:`inverse_and_log_det` where an inverse exists);
    ``forward``, ``inverse`` and the log-determinants alone are derived from them.  Bijectors act on one event
    (a single array); use ``jax.vmap`` for batches.  They are JAX pytrees: their parameters are the leaves, so a
    bijector can be passed through ``jax.jit``, ``jax.grad`` and an optax optimiser as it is.

    :meth:`jacobian_pattern` may declare which entries of the (flattened) Jacobian can be nonzero; the
    structure-aware :func:`jacx.logdet.logdet` uses it.

    >>> import jax.numpy as jnp
    >>> from jacx.flows import Affine
    >>> b = Affine(scale=jnp.array([2.0, -1.0]), shift=jnp.zeros(2))
    >>> y, ld = b.forward_and_log_det(jnp.array([1.0, 1.0]))
    >>> y, float(ld)
    (Array([ 2., -1.], dtype=float32), 0.693...)
    >>> b.inverse(y)
    Array([1., 1.], dtype=float32)
    """

    @abc.abstractmethod
    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(F(x), log|det J_F(x)|)``."""

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(F^{-1}(y), log|det J_{F^{-1}}(y)|)``; raises :class:`NotInvertibleError` where not implemented."""
        raise NotInvertibleError(
            f"{type(self).__name__} has no inverse implemented; received a call to inverse. Use a bijector with "
            "an inverse (see the table in the flows documentation) or only its forward direction."
        )

    def forward(self, x: jax.Array) -> jax.Array:
        """``F(x)``."""
        return self.forward_and_log_det(x)[0]

    def inverse(self, y: jax.Array) -> jax.Array:
        """``F^{-1}(y)``."""
        return self.inverse_and_log_det(y)[0]

    def forward_log_det_jacobian(self, x: jax.Array) -> jax.Array:
        """``log|det J_F(x)|``."""
        return self.forward_and_log_det(x)[1]

    def inverse_log_det_jacobian(self, y: jax.Array) -> jax.Array:
        """``log|det J_{F^{-1}}(y)|``."""
        return self.inverse_and_log_det(y)[1]

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.forward(x)

    def jacobian_pattern(self, x: Any) -> np.ndarray | str | None:
        """Boolean ``(n, n)`` pattern of the flattened Jacobian at ``x``; ``"dense"`` when it is known to have no
        structure; ``None`` when not declared (then :func:`jacx.logdet.logdet` tries sparsity detection)."""
        return None


def check_vector(x: Any, name: str) -> None:
    """Raise a usage error unless ``x`` is a single 1-D event."""
    if np.ndim(x) != 1:
        raise JacxUsageError(
            f"{name} acts on one 1-D event; received an array of shape {np.shape(x)}. Fix: pass a vector of shape "
            "(n,), and use jax.vmap (or jacx.flows.Flow) for a batch."
        )
