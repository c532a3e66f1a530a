"""Toy 2-D data sets for density estimation: two moons, rings and a checkerboard."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .._errors import JacxUsageError

__all__ = ["two_moons", "rings", "checkerboard", "make_dataset", "DATASETS"]


def two_moons(key: jax.Array, n: int, noise: float = 0.05) -> jax.Array:
    """``n`` points on two interleaved half circles with Gaussian noise, centred and scaled to about ``[-2.4, 2.4]``.

    >>> two_moons(jax.random.key(0), 10).shape
    (10, 2)
    """
    k1, k2, k3 = jax.random.split(key, 3)
    t = jax.random.uniform(k1, (n,), minval=0.0, maxval=jnp.pi)
    upper = jax.random.bernoulli(k2, 0.5, (n,))
    x = jnp.where(upper, jnp.cos(t), 1.0 - jnp.cos(t))
    y = jnp.where(upper, jnp.sin(t), 0.5 - jnp.sin(t))
    pts = jnp.stack([x - 0.5, y - 0.25], axis=1) * 1.6
    return pts + noise * 1.6 * jax.random.normal(k3, (n, 2))


def rings(key: jax.Array, n: int, radii: tuple[float, ...] = (0.8, 1.6, 2.4), noise: float = 0.08) -> jax.Array:
    """``n`` points on concentric circles (equal share per ring) with Gaussian radial noise.

    >>> rings(jax.random.key(0), 10).shape
    (10, 2)
    """
    k1, k2, k3 = jax.random.split(key, 3)
    r = jnp.asarray(radii)[jax.random.randint(k1, (n,), 0, len(radii))]
    t = jax.random.uniform(k2, (n,), minval=0.0, maxval=2 * jnp.pi)
    r = r + noise * jax.random.normal(k3, (n,))
    return jnp.stack([r * jnp.cos(t), r * jnp.sin(t)], axis=1)


def checkerboard(key: jax.Array, n: int) -> jax.Array:
    """``n`` points uniform on the 8 dark squares of a 4 x 4 board covering ``[-2, 2]^2``.

    >>> bool(jnp.all(jnp.abs(checkerboard(jax.random.key(0), 100)) <= 2))
    True
    """
    k1, k2 = jax.random.split(key)
    cell = jax.random.randint(k1, (n,), 0, 8)
    row = cell // 2
    col = 2 * (cell % 2) + (row % 2)
    u = jax.random.uniform(k2, (n, 2))
    return jnp.stack([col + u[:, 0], row + u[:, 1]], axis=1) - 2.0


DATASETS: dict[str, Callable[[jax.Array, int], jax.Array]] = {
    "moons": two_moons,
    "rings": rings,
    "checkerboard": checkerboard,
}


def make_dataset(name: str, key: jax.Array, n: int) -> jax.Array:
    """The data set ``name`` (``"moons"``, ``"rings"`` or ``"checkerboard"``) with ``n`` points.

    >>> make_dataset("rings", jax.random.key(0), 4).shape
    (4, 2)
    """
    if name not in DATASETS:
        raise JacxUsageError(f"received data set {name!r}; expected one of {sorted(DATASETS)}.")
    return DATASETS[name](key, n)
