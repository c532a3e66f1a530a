"""Scalar objectives with sparse Hessians, as ``(f, x0)`` pairs: the problems of the Hessian benchmark and tests.

* :func:`extended_rosenbrock` -- Rosenbrock's function on independent pairs (2 x 2 blocks);
* :func:`chained_rosenbrock` -- Rosenbrock's function on consecutive pairs (tridiagonal);
* :func:`pde_energy` -- a Dirichlet energy with a nonlinear term on a 2D or 3D grid (5- or 7-point stencil);
* :func:`brusselator_least_squares` -- ``1/2 ||F(x)||^2`` of the 2D Brusselator (``J^T J + sum F_i H_i``);
* :func:`arrowhead` -- every variable coupled to the first one;
* :func:`mesh_energy` -- ``1/2 u^T L u + sum u^4 / 4 - sum u`` on an unstructured Delaunay mesh.

>>> f, x0 = pde_energy(8)
>>> x0.shape, f(x0).shape
((64,), ())
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jacx.sparse._problems import brusselator_2d, mesh_laplacian

__all__ = ["HESSIAN_PROBLEMS", "arrowhead", "brusselator_least_squares", "chained_rosenbrock",
           "extended_rosenbrock", "mesh_energy", "pde_energy"]

Objective = tuple[Callable[[jax.Array], jax.Array], jax.Array]


def extended_rosenbrock(n: int) -> Objective:
    """``sum_i 100 (x_{2i+1} - x_{2i}^2)^2 + (1 - x_{2i})^2`` (Moré, Garbow and Hillstrom); ``n`` even.

    >>> f, x0 = extended_rosenbrock(4)
    >>> float(f(jnp.ones(4)))
    0.0
    """
    if n < 2 or n % 2:
        raise ValueError(f"extended_rosenbrock: received n={n}; expected an even n >= 2.")

    def f(x: jax.Array) -> jax.Array:
        a, b = x[0::2], x[1::2]
        return jnp.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)

    return f, jnp.tile(jnp.array([-1.2, 1.0], jnp.float32), n // 2)


def chained_rosenbrock(n: int) -> Objective:
    """``sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2``: a tridiagonal Hessian.

    >>> f, x0 = chained_rosenbrock(5)
    >>> float(f(jnp.ones(5)))
    0.0
    """

    def f(x: jax.Array) -> jax.Array:
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return f, jnp.full(n, -1.2, jnp.float32).at[1::2].set(1.0)


def pde_energy(n_grid: int, dim: int = 2) -> Objective:
    """The energy ``h^d sum (|grad u|^2 / 2 + u^4 / 4 - u)`` of ``-lap u + u^3 = 1`` with zero boundary values on
    an ``n_grid^dim`` grid (forward differences: the Hessian is the 5- or 7-point Laplacian plus a diagonal).

    >>> f, x0 = pde_energy(4, dim=3)
    >>> x0.shape
    (64,)
    """
    if dim not in (2, 3):
        raise ValueError(f"pde_energy: received dim={dim}; expected 2 or 3.")
    h = 1.0 / (n_grid + 1)
    shape = (n_grid,) * dim

    def f(x: jax.Array) -> jax.Array:
        u = jnp.pad(x.reshape(shape), 1)
        grad2 = sum(jnp.sum(jnp.diff(u, axis=a) ** 2) for a in range(dim)) / h**2
        return h**dim * (0.5 * grad2 + jnp.sum(x**4) / 4.0 - jnp.sum(x))

    return f, jnp.linspace(0.0, 1.0, n_grid**dim, dtype=jnp.float32)


def brusselator_least_squares(n_grid: int) -> Objective:
    """``1/2 ||F(x)||^2`` for the 2D Brusselator residual ``F`` on an ``n_grid x n_grid`` periodic grid (flat
    state of ``2 n_grid^2``): the Hessian ``J^T J + sum_i F_i H_i`` couples points up to two steps apart.

    >>> f, x0 = brusselator_least_squares(4)
    >>> x0.shape
    (32,)
    """
    res, x0 = brusselator_2d(n_grid, layout="flat")

    def f(x: jax.Array) -> jax.Array:
        r = res(x)
        return 0.5 * jnp.sum(r * r)

    return f, x0


def arrowhead(n: int) -> Objective:
    """``sum_{i>0} (x_0 - x_i^2)^2 + (x_0 - 1)^2``: a full first row and column and the diagonal.

    >>> f, x0 = arrowhead(4)
    >>> float(f(jnp.ones(4)))
    0.0
    """

    def f(x: jax.Array) -> jax.Array:
        return jnp.sum((x[0] - x[1:] ** 2) ** 2) + (x[0] - 1.0) ** 2

    return f, jnp.linspace(0.5, 1.5, n, dtype=jnp.float32)


def mesh_energy(n_points: int, seed: int = 0) -> Objective:
    """``1/2 u^T L u + sum u^4 / 4 - sum u`` for the weighted graph Laplacian ``L`` of a Delaunay mesh of
    ``n_points`` random points (the energy whose gradient is :func:`jacx.sparse.problems.mesh_laplacian`).

    >>> f, x0 = mesh_energy(30)
    >>> x0.shape
    (30,)
    """
    res, x0 = mesh_laplacian(n_points, seed)

    def f(u: jax.Array) -> jax.Array:
        lap = res(u) - u**3 + 1.0  # L u
        return 0.5 * jnp.sum(u * lap) + jnp.sum(u**4) / 4.0 - jnp.sum(u)

    return f, x0


HESSIAN_PROBLEMS: dict[str, Callable[..., Objective]] = {
    "extended-rosenbrock": extended_rosenbrock,
    "chained-rosenbrock": chained_rosenbrock,
    "pde-2d": lambda n: pde_energy(max(2, round(n ** 0.5)), 2),
    "pde-3d": lambda n: pde_energy(max(2, round(n ** (1 / 3))), 3),
    "brusselator-lsq": lambda n: brusselator_least_squares(max(2, round((n / 2) ** 0.5))),
    "arrowhead": arrowhead,
    "mesh": mesh_energy,
}
"""Problem name -> constructor taking (about) the number of variables."""
