"""Built-in test problems with known sparse Jacobians (public as :mod:`jacx.sparse.problems`)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["PROBLEMS", "arrow", "broyden_banded", "broyden_tridiagonal", "brusselator_2d", "conv_layer"]

Problem = tuple[Callable[[jax.Array], jax.Array], jax.Array]
"""A residual ``f`` and an input ``x0`` of the shape it expects."""


def brusselator_2d(n_grid: int, *, a: float = 3.4, b: float = 1.0, alpha: float = 0.002) -> Problem:
    """The 2D Brusselator right-hand side on the periodic unit square with the 5-point Laplacian.

    The state has shape ``(2, n_grid, n_grid)`` (u then v), so the Jacobian is ``2 N^2 x 2 N^2`` with at most
    6 nonzeros per row.

    >>> f, x0 = brusselator_2d(8)
    >>> x0.shape, f(x0).shape
    ((2, 8, 8), (2, 8, 8))
    """
    h = 1.0 / n_grid
    coef = alpha / h**2
    xs = jnp.arange(n_grid) * h
    xx, yy = jnp.meshgrid(xs, xs, indexing="ij")

    def lap(w: jax.Array) -> jax.Array:
        return (
            jnp.roll(w, 1, 0) + jnp.roll(w, -1, 0) + jnp.roll(w, 1, 1) + jnp.roll(w, -1, 1) - 4.0 * w
        ) * coef

    def f(state: jax.Array) -> jax.Array:
        u, v = state[0], state[1]
        uuv = u * u * v
        du = b + uuv - (a + 1.0) * u + lap(u)
        dv = a * u - uuv + lap(v)
        return jnp.stack([du, dv])

    u0 = 22.0 * (yy * (1.0 - yy)) ** 1.5
    v0 = 27.0 * (xx * (1.0 - xx)) ** 1.5
    return f, jnp.stack([u0, v0]).astype(jnp.float32)


def broyden_tridiagonal(n: int) -> Problem:
    """Broyden's tridiagonal function ``(3 - 2x_i) x_i - x_{i-1} - 2 x_{i+1} + 1`` (zero boundary values).

    >>> f, x0 = broyden_tridiagonal(5)
    >>> f(x0).shape
    (5,)
    """

    def f(x: jax.Array) -> jax.Array:
        xp = jnp.pad(x, 1)
        return (3.0 - 2.0 * x) * x - xp[:-2] - 2.0 * xp[2:] + 1.0

    return f, -jnp.ones(n, dtype=jnp.float32)


def broyden_banded(n: int, ml: int = 5, mu: int = 1) -> Problem:
    """Broyden's banded function ``x_i (2 + 5 x_i^2) + 1 - sum_{j in band(i), j != i} x_j (1 + x_j)``.

    >>> f, x0 = broyden_banded(10)
    >>> f(x0).shape
    (10,)
    """

    def f(x: jax.Array) -> jax.Array:
        g = x * (1.0 + x)
        gp = jnp.pad(g, (ml, mu))
        s = sum(gp[ml + k:ml + k + n] for k in range(-ml, mu + 1) if k != 0)
        return x * (2.0 + 5.0 * x * x) + 1.0 - s

    return f, -jnp.ones(n, dtype=jnp.float32)


def arrow(n: int) -> Problem:
    """An arrow-shaped Jacobian: one dense row, one dense column and the diagonal.

    >>> f, x0 = arrow(4)
    >>> f(x0).shape
    (4,)
    """

    def f(x: jax.Array) -> jax.Array:
        body = x * x + x[0] * x
        return body.at[0].set(jnp.sum(jnp.sin(x)))

    return f, jnp.linspace(0.5, 1.5, n, dtype=jnp.float32)


def conv_layer(length: int, channels: int = 4, width: int = 5, seed: int = 0) -> Problem:
    """A 1-D convolutional layer ``tanh(conv(x, W) + b)`` with 'SAME' padding, ``x`` of shape (channels, length).

    >>> f, x0 = conv_layer(16)
    >>> f(x0).shape
    (4, 16)
    """
    rng = np.random.default_rng(seed)
    w = jnp.asarray(rng.normal(size=(channels, channels, width)) / np.sqrt(channels * width), dtype=jnp.float32)
    bias = jnp.asarray(rng.normal(size=(channels, 1)), dtype=jnp.float32)

    def f(x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(x[None], w.astype(x.dtype), (1,), "SAME")[0]
        return jnp.tanh(y + bias.astype(x.dtype))

    x0 = jnp.asarray(rng.normal(size=(channels, length)), dtype=jnp.float32)
    return f, x0


PROBLEMS: dict[str, Callable[[int], Problem]] = {
    "brusselator": brusselator_2d,
    "broyden-tridiagonal": broyden_tridiagonal,
    "broyden-banded": broyden_banded,
    "arrow": arrow,
    "conv": conv_layer,
}
