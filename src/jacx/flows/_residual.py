"""Contractive residual bijector ``y = x + g(x)`` (i-ResNet / residual flows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, final

import jax
import jax.numpy as jnp

from .._errors import JacxUsageError
from ..logdet._series import residual_logdet
from ..logdet._trace import Estimate
from ..logdet._util import pytree_dataclass, static_field
from ._base import Bijector, check_vector
from ._nets import MLP

__all__ = ["Residual"]


@final
@pytree_dataclass
class Residual(Bijector):
    """``y = x + g(x)`` where ``g`` is an MLP whose layers are rescaled to spectral norm at most ``lipschitz < 1``
    (1-Lipschitz activations), so ``Lip(g) < 1`` and the map is invertible.

    ``forward_and_log_det`` gives the exact ``log det(I + J_g)`` from the dense ``n x n`` Jacobian (fine for the
    small dimensions of density-estimation demos); :meth:`log_det_estimate` gives the stochastic power-series /
    Russian-roulette estimate of :func:`jacx.logdet.residual_logdet` for large ``n``.  The inverse is the
    fixed-point iteration ``x <- y - g(x)``, a contraction, finished by one Newton step (so that its derivatives
    are right in forward and reverse mode).

    >>> import jax, jax.numpy as jnp
    >>> b = Residual.init(jax.random.key(0), 2)
    >>> x = jnp.array([0.4, -1.2])
    >>> bool(jnp.allclose(b.inverse(b.forward(x)), x, atol=1e-5))
    True
    """

    net: MLP
    lipschitz: float = static_field(default=0.9)
    max_iterations: int = static_field(default=500)
    tolerance: float = static_field(default=1e-7)

    def __post_init__(self) -> None:
        if not 0.0 < float(self.lipschitz) < 1.0:
            raise JacxUsageError(f"received lipschitz={self.lipschitz!r}; expected a number in (0, 1).")
        if self.net.activation not in ("tanh", "relu", "elu"):
            raise JacxUsageError(
                f"received an MLP with activation {self.net.activation!r}; a contractive residual branch needs a "
                "1-Lipschitz activation: 'tanh', 'relu' or 'elu'."
            )

    @classmethod
    def init(
        cls, key: jax.Array, n: int, hidden: Sequence[int] = (32,), *, lipschitz: float = 0.9, dtype: Any = jnp.float32
    ) -> Residual:
        """A residual layer with random weights on ``n`` entries."""
        return cls(MLP.init(key, [n, *hidden, n], activation="tanh", zero_last=False, dtype=dtype), float(lipschitz))

    def branch(self, x: jax.Array) -> jax.Array:
        """The contractive branch ``g``."""
        weights = tuple(
            w * jnp.minimum(1.0, self.lipschitz / jnp.linalg.norm(w, ord=2)) for w in self.net.weights
        )
        return MLP(weights, self.net.biases, self.net.activation)(x)

    def jacobian_pattern(self, x: Any) -> str:
        return "dense"

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(x, "Residual")
        jac = jnp.eye(x.shape[0], dtype=x.dtype) + jax.jacfwd(self.branch)(x)
        return x + self.branch(x), jnp.linalg.slogdet(jac)[1]

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(y, "Residual")

        def cond(carry: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
            i, _, change = carry
            return (i < self.max_iterations) & (change > self.tolerance)

        def body(carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
            i, x, _ = carry
            new = y - self.branch(x)
            return i + 1, new, jnp.max(jnp.abs(new - x))

        _, x, _ = jax.lax.while_loop(cond, body, (0, y, jnp.asarray(jnp.inf, y.dtype)))
        # One Newton step from the gradient-stopped fixed point: same value, implicit-function derivatives.
        x = jax.lax.stop_gradient(x)
        jac = jnp.eye(y.shape[0], dtype=y.dtype) + jax.jacfwd(self.branch)(x)
        x = x - jnp.linalg.solve(jac, x + self.branch(x) - y)
        return x, -jnp.linalg.slogdet(jac)[1]

    def log_det_estimate(self, x: jax.Array, key: jax.Array, **kwargs: Any) -> Estimate:
        """Stochastic ``log det`` via :func:`jacx.logdet.residual_logdet` (keyword arguments passed on)."""
        return residual_logdet(self.branch, x, key, **kwargs)
