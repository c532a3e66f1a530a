"""Base distribution and normalizing flow: ``log p_x(x) = log p_z(F(x)) + log|det J_F(x)|``."""

from __future__ import annotations

from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import JacxUsageError
from ..logdet._util import pytree_dataclass, static_field
from ._base import Bijector, batch_hint

__all__ = ["StandardNormal", "Flow"]


@final
@pytree_dataclass
class StandardNormal:
    """Independent standard normal entries on events of shape ``event_shape``.

    >>> import jax.numpy as jnp
    >>> round(float(StandardNormal((2,)).log_prob(jnp.zeros(2))), 4)     # -log(2 pi)
    -1.8379
    """

    event_shape: tuple[int, ...] = static_field()

    def log_prob(self, z: jax.Array) -> jax.Array:
        """Log-density of one event."""
        return -0.5 * jnp.sum(z**2) - 0.5 * z.size * jnp.log(2.0 * jnp.pi)

    def sample(self, key: jax.Array, n: int, dtype: Any = jnp.float32) -> jax.Array:
        """``n`` events, shape ``(n, *event_shape)``."""
        _check_sample_count(n)
        return jax.random.normal(key, (n, *self.event_shape), dtype)


def _check_sample_count(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise JacxUsageError(
            f"received n={n!r}; expected the number of samples as a non-negative integer (e.g. 1000). "
            "Fix: pass an int; reshape the returned (n, *event_shape) array for other batch shapes."
        )


@final
@pytree_dataclass
class Flow:
    """A normalizing flow: ``bijector`` maps data ``x`` to latent ``z = F(x)`` with density ``base``.

    ``log_prob(x) = base.log_prob(F(x)) + log|det J_F(x)|`` (one forward pass per event) and ``sample`` draws
    ``z ~ base`` and returns ``F^{-1}(z)`` (needs the inverse).  Both accept a batch along leading axes.

    >>> import jax, jax.numpy as jnp
    >>> from jacx.flows import Affine
    >>> flow = Flow(Affine(jnp.array(2.0), jnp.array(0.0)), StandardNormal((1,)))   # x ~ N(0, 1/4)
    >>> round(float(flow.log_prob(jnp.zeros(1))), 4)                                 # log(2 / sqrt(2 pi))
    -0.2258
    >>> flow.sample(jax.random.key(0), 5).shape
    (5, 1)
    """

    bijector: Bijector
    base: StandardNormal

    def _event_ndim(self) -> int:
        return len(self.base.event_shape)

    def _batched(self, fn: Any, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        k = self._event_ndim()
        if x.ndim < k or tuple(x.shape[x.ndim - k :]) != tuple(self.base.event_shape):
            raise JacxUsageError(
                f"received data of shape {x.shape}; expected events of shape {self.base.event_shape} (with any "
                "leading batch axes)."
            )
        batch = x.shape[: x.ndim - k]
        flat = x.reshape((int(np.prod(batch)), *self.base.event_shape))
        return jax.vmap(fn)(flat).reshape(batch)

    def log_prob_one(self, x: jax.Array) -> jax.Array:
        """Log-density of a single event."""
        z, logdet = self.bijector.forward_and_log_det(x)
        return self.base.log_prob(z) + logdet

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Log-density at ``x`` of shape ``(*batch, *event_shape)``; returns shape ``batch``."""
        return self._batched(self.log_prob_one, x)

    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` samples of shape ``(n, *event_shape)`` (through the bijector's inverse)."""
        z = self.base.sample(key, n)
        with batch_hint(n):  # a MAF inverts few events faster by whole network passes (see MaskedAutoregressive)
            return jax.vmap(self.bijector.inverse)(z)
