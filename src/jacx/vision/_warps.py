"""Parametric image warps W(x; p) and their Jacobians, in the conventions of Baker & Matthews' Lucas-Kanade survey.

Points are (x, y) = (column, row) in pixels.  Every warp here is a 3 x 3 matrix acting on homogeneous points, so
composing and inverting warps is matrix algebra; the parameter vector p is zero at the identity:

* translation (2): x' = x + p1, y' = y + p2
* affine (6): [[1 + p1, p3, p5], [p2, 1 + p4, p6]]
* homography (8): [[1 + p1, p3, p5], [p2, 1 + p4, p6], [p7, p8, 1]], then divide by the last coordinate
"""

from __future__ import annotations

import abc
from typing import final

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jacx._dense import jacobian
from jacx._errors import JacxUsageError

__all__ = ["Warp", "Translation", "Affine", "Homography", "warp_by_name"]


class Warp(abc.ABC):
    """A family of image warps with ``n_params`` parameters, zero at the identity (abstract).

    >>> Affine().n_params
    6
    """

    n_params: int
    name: str

    @abc.abstractmethod
    def matrix(self, p: ArrayLike) -> jax.Array:
        """The 3 x 3 homogeneous matrix of the warp with parameters ``p``."""

    @abc.abstractmethod
    def params(self, M: ArrayLike) -> jax.Array:
        """The parameters of the warp whose matrix is ``M`` (the inverse of :meth:`matrix`)."""

    def _check_p(self, p: ArrayLike) -> jax.Array:
        p = jnp.asarray(p, dtype=jnp.result_type(float))
        if p.shape != (self.n_params,):
            raise JacxUsageError(
                f"A {self.name} warp has {self.n_params} parameters; received p of shape {p.shape}. "
                f"Pass a vector of {self.n_params} numbers (zeros for the identity)."
            )
        return p

    def __eq__(self, other: object) -> bool:  # warps of one family are interchangeable (no state)
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def _apply_p_x(self, p, x):
        return self.apply(p, x)

    def _apply_x_p(self, x, p):
        return self.apply(p, x)

    def identity(self) -> jax.Array:
        """The parameters of the identity warp (all zeros)."""
        return jnp.zeros(self.n_params)

    def apply(self, p: ArrayLike, points: ArrayLike) -> jax.Array:
        """W(x; p) for points of shape (..., 2) given as (x, y).

        >>> print(Translation().apply(jnp.array([1.0, -2.0]), jnp.array([3.0, 4.0])))
        [4. 2.]
        """
        p = self._check_p(p)
        points = jnp.asarray(points, dtype=p.dtype)
        if points.shape[-1:] != (2,):
            raise JacxUsageError(
                f"Points must have shape (..., 2) holding (x, y); received shape {points.shape}. "
                "Stack the coordinates on the last axis."
            )
        M = self.matrix(p)
        h = points @ M[:, :2].T + M[:, 2]
        return h[..., :2] / h[..., 2:]

    def compose_inverse(self, p: ArrayLike, dp: ArrayLike) -> jax.Array:
        """Parameters of W(x; p) o W(x; dp)^-1, the inverse-compositional update."""
        return self.params(self.matrix(p) @ jnp.linalg.inv(self.matrix(dp)))

    def jacobian_params(self, p: ArrayLike, points: ArrayLike) -> jax.Array:
        """dW/dp at each point, shape (..., 2, n_params), from jacx's Jacobian of :meth:`apply`.

        >>> print(Affine().jacobian_params(jnp.zeros(6), jnp.array([2.0, 3.0])))
        [[2. 0. 3. 0. 1. 0.]
         [0. 2. 0. 3. 0. 1.]]
        """
        p = self._check_p(p)
        points = jnp.asarray(points, dtype=p.dtype)
        one = jacobian(self._apply_p_x, mode="forward")
        flat = points.reshape(-1, 2)
        return jax.vmap(one, in_axes=(None, 0))(p, flat).reshape(points.shape[:-1] + (2, self.n_params))

    def jacobian_points(self, p: ArrayLike, points: ArrayLike) -> jax.Array:
        """dW/dx at each point, shape (..., 2, 2): how the warp stretches the pixel grid locally.

        >>> print(Translation().jacobian_points(jnp.array([5.0, 1.0]), jnp.array([2.0, 3.0])))
        [[1. 0.]
         [0. 1.]]
        """
        p = self._check_p(p)
        points = jnp.asarray(points, dtype=p.dtype)
        one = jacobian(self._apply_x_p, mode="forward")
        flat = points.reshape(-1, 2)
        return jax.vmap(one, in_axes=(0, None))(flat, p).reshape(points.shape[:-1] + (2, 2))


@final
class Translation(Warp):
    """Pure translation by (p1, p2) pixels.

    >>> print(Translation().params(Translation().matrix(jnp.array([1.5, -2.0]))))
    [ 1.5 -2. ]
    """

    n_params = 2
    name = "translation"

    def matrix(self, p: ArrayLike) -> jax.Array:
        p = self._check_p(p)
        return jnp.eye(3, dtype=p.dtype).at[0, 2].set(p[0]).at[1, 2].set(p[1])

    def params(self, M: ArrayLike) -> jax.Array:
        return jnp.array([M[0, 2] / M[2, 2], M[1, 2] / M[2, 2]])


@final
class Affine(Warp):
    """The 6-parameter affine warp [[1 + p1, p3, p5], [p2, 1 + p4, p6]].

    >>> print(Affine().apply(jnp.array([0.1, 0.0, 0.0, 0.1, 2.0, 0.0]), jnp.array([10.0, 10.0])))
    [13. 11.]
    """

    n_params = 6
    name = "affine"

    def matrix(self, p: ArrayLike) -> jax.Array:
        p = self._check_p(p)
        return jnp.array([[1 + p[0], p[2], p[4]], [p[1], 1 + p[3], p[5]], [0.0, 0.0, 1.0]], dtype=p.dtype)

    def params(self, M: ArrayLike) -> jax.Array:
        M = M / M[2, 2]
        return jnp.array([M[0, 0] - 1, M[1, 0], M[0, 1], M[1, 1] - 1, M[0, 2], M[1, 2]])


@final
class Homography(Warp):
    """The 8-parameter projective warp [[1 + p1, p3, p5], [p2, 1 + p4, p6], [p7, p8, 1]].

    >>> print(Homography().apply(jnp.array([0, 0, 0, 0, 0, 0, 0.01, 0.0]), jnp.array([100.0, 0.0])))
    [50.  0.]
    """

    n_params = 8
    name = "homography"

    def matrix(self, p: ArrayLike) -> jax.Array:
        p = self._check_p(p)
        return jnp.array([[1 + p[0], p[2], p[4]], [p[1], 1 + p[3], p[5]], [p[6], p[7], 1.0]], dtype=p.dtype)

    def params(self, M: ArrayLike) -> jax.Array:
        M = M / M[2, 2]
        return jnp.array([M[0, 0] - 1, M[1, 0], M[0, 1], M[1, 1] - 1, M[0, 2], M[1, 2], M[2, 0], M[2, 1]])


def warp_by_name(name: str) -> Warp:
    """The warp family called ``"translation"``, ``"affine"`` or ``"homography"``.

    >>> warp_by_name("homography").n_params
    8
    """
    table = {"translation": Translation, "affine": Affine, "homography": Homography}
    if name not in table:
        raise JacxUsageError(f"Unknown warp {name!r}; expected one of {sorted(table)}. Pick one of those names.")
    return table[name]()
