"""Planar and radial flows (Rezende & Mohamed, 2015): rank-one and radial perturbations of the identity."""

from __future__ import annotations

from typing import Any, final

import jax
import jax.numpy as jnp

from ..logdet._util import pytree_dataclass, static_field
from ._base import Bijector, check_vector

__all__ = ["Planar", "Radial"]


@final
@pytree_dataclass
class Planar(Bijector):
    """``y = x + u_hat * tanh(w . x + b)``, with ``u`` adjusted to ``u_hat`` so that ``w . u_hat >= -1`` (then the
    map is invertible).  ``log|det J| = log|1 + tanh'(w . x + b) w . u_hat|`` (matrix determinant lemma).

    The inverse has no closed form but reduces to one monotone scalar equation for ``a = w . x``, solved by
    bisection on a bracket of width ``2 |w . u_hat|`` (``bisection_steps`` halvings), followed by one Newton step
    so that derivatives of the inverse are those of the implicit function.

    >>> import jax.numpy as jnp
    >>> b = Planar(w=jnp.array([1.0, 0.5]), u=jnp.array([0.3, -0.2]), b=jnp.array(0.1))
    >>> x = jnp.array([0.4, -1.2])
    >>> bool(jnp.allclose(b.inverse(b.forward(x)), x, atol=1e-5))
    True
    """

    w: jax.Array
    u: jax.Array
    b: jax.Array
    bisection_steps: int = static_field(default=60)

    @classmethod
    def init(cls, key: jax.Array, n: int, dtype: Any = jnp.float32) -> Planar:
        """Small random parameters for an ``n``-dimensional planar layer."""
        k1, k2 = jax.random.split(key)
        w = 0.5 * jax.random.normal(k1, (n,), dtype)
        return cls(w, 0.5 * jax.random.normal(k2, (n,), dtype), jnp.zeros((), dtype))

    def u_hat(self) -> jax.Array:
        """``u`` moved along ``w`` so that ``w . u_hat = -1 + softplus(w . u) > -1``."""
        wu = jnp.dot(self.w, self.u)
        return self.u + (jax.nn.softplus(wu) - 1.0 - wu) * self.w / jnp.dot(self.w, self.w)

    def jacobian_pattern(self, x: Any) -> str:
        return "dense"

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(x, "Planar")
        u = self.u_hat()
        h = jnp.tanh(jnp.dot(self.w, x) + self.b)
        return x + u * h, jnp.log(jnp.abs(1.0 + (1.0 - h**2) * jnp.dot(self.w, u)))

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(y, "Planar")
        u = self.u_hat()
        c, t = jnp.dot(self.w, u), jnp.dot(self.w, y)
        # w.y = a + c tanh(a + b) with a = w.x: increasing in a, and the root lies in [t - |c|, t + |c|].

        def halve(_: int, bracket: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
            lo, hi = bracket
            mid = 0.5 * (lo + hi)
            above = mid + c * jnp.tanh(mid + self.b) > t
            return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

        lo, hi = jax.lax.fori_loop(0, self.bisection_steps, halve, (t - jnp.abs(c) - 1e-6, t + jnp.abs(c) + 1e-6))
        # One Newton step from the (gradient-stopped) root gives the implicit-function derivative.
        a = jax.lax.stop_gradient(0.5 * (lo + hi))
        a = a - (a + c * jnp.tanh(a + self.b) - t) / (1.0 + c * (1.0 - jnp.tanh(a + self.b) ** 2))
        x = y - u * jnp.tanh(a + self.b)
        return x, -self.forward_log_det_jacobian(x)


@final
@pytree_dataclass
class Radial(Bijector):
    """``y = x + beta / (alpha + r) * (x - x0)`` with ``r = |x - x0|``, ``alpha = softplus(alpha_raw) > 0`` and
    ``beta = -alpha + softplus(beta_raw) > -alpha`` (invertible).  Expands or contracts space around ``x0``.

    ``log|det J| = (n - 1) log(1 + beta h) + log(1 + beta h - beta h^2 r)`` with ``h = 1 / (alpha + r)``; the
    inverse solves a quadratic for ``r``.

    >>> import jax.numpy as jnp
    >>> b = Radial(x0=jnp.zeros(2), alpha_raw=jnp.array(0.5), beta_raw=jnp.array(1.0))
    >>> x = jnp.array([0.4, -1.2])
    >>> bool(jnp.allclose(b.inverse(b.forward(x)), x, atol=1e-5))
    True
    """

    x0: jax.Array
    alpha_raw: jax.Array
    beta_raw: jax.Array

    @classmethod
    def init(cls, key: jax.Array, n: int, dtype: Any = jnp.float32) -> Radial:
        """Random centre, moderate ``alpha`` and ``beta`` for an ``n``-dimensional radial layer."""
        return cls(jax.random.normal(key, (n,), dtype), jnp.zeros((), dtype), jnp.zeros((), dtype))

    def _alpha_beta(self) -> tuple[jax.Array, jax.Array]:
        alpha = jax.nn.softplus(self.alpha_raw)
        return alpha, -alpha + jax.nn.softplus(self.beta_raw)

    def jacobian_pattern(self, x: Any) -> str:
        return "dense"

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(x, "Radial")
        alpha, beta = self._alpha_beta()
        d = x - self.x0
        r = jnp.linalg.norm(d)
        h = 1.0 / (alpha + r)
        n = x.shape[0]
        logdet = (n - 1) * jnp.log1p(beta * h) + jnp.log1p(beta * h - beta * h**2 * r)
        return x + beta * h * d, logdet

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(y, "Radial")
        alpha, beta = self._alpha_beta()
        d = y - self.x0
        ry = jnp.linalg.norm(d)
        # r_y = r (1 + beta / (alpha + r))  <=>  r^2 + (alpha + beta - r_y) r - alpha r_y = 0, positive root
        p = alpha + beta - ry
        r = 0.5 * (-p + jnp.sqrt(p**2 + 4.0 * alpha * ry))
        x = self.x0 + d * (r / ry)
        return x, -self.forward_log_det_jacobian(x)
