"""Test problems for the optimizers: a discretised optimal control problem (a planar rocket), and two
zero-residual least-squares problems of Moré, Garbow and Hillstrom that scale to any n.

>>> from jacx.optimize.problems import rocket
>>> prob = rocket(50)
>>> prob.n, prob.m, int((prob.cl == prob.cu).sum())
(357, 310, 259)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["ControlProblem", "broyden_tridiagonal", "extended_rosenbrock", "rocket"]


@dataclass
class ControlProblem:
    """``min objective(x)`` subject to ``cl <= constraints(x) <= cu`` and ``lb <= x <= ub``, from ``x0``.

    ``unpack(x)`` gives the named trajectories (``states`` ``(N+1, k)``, ``controls`` ``(N+1, l)``, ``t``)."""

    name: str
    objective: Callable
    constraints: Callable
    x0: np.ndarray
    cl: np.ndarray
    cu: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    unpack: Callable

    @property
    def n(self) -> int:
        return int(self.x0.size)

    @property
    def m(self) -> int:
        return int(self.cl.size)


def rocket(intervals: int = 400, *, gravity: float = 1.0, drag: float = 0.2, exhaust_speed: float = 20.0,
           max_thrust: float = 6.5, target: tuple[float, float] = (1.0, 1.0)) -> ControlProblem:
    """A planar rocket flown from rest at the origin to rest at ``target`` in unit time with the least energy.

    States ``(px, py, vx, vy, mass)`` and thrust ``(ux, uy)`` at ``intervals + 1`` nodes (``7 (N + 1)``
    variables). Dynamics, discretised by the trapezoidal rule (``5 N`` equality constraints)::

        p' = v,   v' = u / mass - g e_y - drag |v| v / mass,   mass' = -|u| / exhaust_speed

    (``|.|`` smoothed as ``sqrt(. ^ 2 + 1e-6)``); boundary conditions ``p(0) = v(0) = 0``, ``mass(0) = 1``,
    ``p(1) = target``, ``v(1) = 0`` (9 equalities); the thrust limit ``|u|^2 <= max_thrust^2`` at every node
    (``N + 1`` inequalities); the bound ``mass >= 0.1``. Objective: ``integral |u|^2 dt``
    (trapezoidal). The Hessian of the Lagrangian couples only neighbouring nodes: a few dozen nonzeros per row.
    """
    N = int(intervals)
    h = 1.0 / N
    w = np.full(N + 1, h)
    w[[0, -1]] = h / 2
    weights = jnp.asarray(w)
    ns = 5 * (N + 1)
    eps = 1e-6

    def split(x):
        return x[:ns].reshape(N + 1, 5), x[ns:].reshape(N + 1, 2)

    def rhs(s, u):
        px, py, vx, vy, mass = s[:, 0], s[:, 1], s[:, 2], s[:, 3], s[:, 4]
        speed = jnp.sqrt(vx ** 2 + vy ** 2 + eps)
        thrust = jnp.sqrt(u[:, 0] ** 2 + u[:, 1] ** 2 + eps)
        ax = (u[:, 0] - drag * speed * vx) / mass
        ay = (u[:, 1] - drag * speed * vy) / mass - gravity
        return jnp.stack([vx, vy, ax, ay, -thrust / exhaust_speed], axis=1)

    def objective(x):
        _, u = split(x)
        return jnp.sum(weights * (u[:, 0] ** 2 + u[:, 1] ** 2))

    def constraints(x):
        s, u = split(x)
        f = rhs(s, u)
        defects = s[1:] - s[:-1] - 0.5 * h * (f[1:] + f[:-1])
        start = s[0] - jnp.array([0.0, 0.0, 0.0, 0.0, 1.0])
        end = s[-1, :4] - jnp.array([target[0], target[1], 0.0, 0.0])
        thrust_sq = u[:, 0] ** 2 + u[:, 1] ** 2
        return jnp.concatenate([jnp.ravel(defects), start, end, thrust_sq])

    t = np.linspace(0.0, 1.0, N + 1)
    ramp = 3 * t ** 2 - 2 * t ** 3  # rest to rest
    s0 = np.zeros((N + 1, 5))
    s0[:, 0], s0[:, 1] = target[0] * ramp, target[1] * ramp
    s0[:, 2], s0[:, 3] = target[0] * 6 * t * (1 - t), target[1] * 6 * t * (1 - t)
    s0[:, 4] = 1.0
    u0 = np.zeros((N + 1, 2))  # the thrust that flies the smooth guess at unit mass, drag left out
    u0[:, 0] = target[0] * (6 - 12 * t)
    u0[:, 1] = target[1] * (6 - 12 * t) + gravity
    x0 = np.concatenate([s0.ravel(), u0.ravel()])
    m_eq = 5 * N + 9
    cl = np.concatenate([np.zeros(m_eq), np.full(N + 1, -np.inf)])
    cu = np.concatenate([np.zeros(m_eq), np.full(N + 1, max_thrust ** 2)])
    lb = np.full(x0.size, -np.inf)
    ub = np.full(x0.size, np.inf)
    lb[4:ns:5] = 0.1  # mass >= 0.1

    def unpack(x):
        s, u = split(np.asarray(x))
        return {"t": t, "states": s, "controls": u}

    return ControlProblem(f"rocket, N = {N}", objective, constraints, x0, cl, cu, lb, ub, unpack)


def broyden_tridiagonal(x: jnp.ndarray) -> jnp.ndarray:
    """Broyden's tridiagonal system ``(3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1`` (``x_0 = x_{n+1} = 0``): ``m = n``
    residuals, a tridiagonal Jacobian, a zero-residual solution near ``x = -1``.

    >>> float(broyden_tridiagonal(jnp.zeros(3))[0])
    1.0
    """
    xp = jnp.concatenate([jnp.zeros(1, x.dtype), x[:-1]])
    xn = jnp.concatenate([x[1:], jnp.zeros(1, x.dtype)])
    return (3 - 2 * x) * x - xp - 2 * xn + 1


def extended_rosenbrock(x: jnp.ndarray) -> jnp.ndarray:
    """The extended Rosenbrock residuals ``10 (x_{2i} - x_{2i-1}^2)`` and ``1 - x_{2i-1}`` (``n`` even): zero at
    ``x = 1``, a 2 x 2 block-diagonal Jacobian.

    >>> extended_rosenbrock(jnp.ones(4)).tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    return jnp.concatenate([10 * (x[1::2] - x[::2] ** 2), 1 - x[::2]])
