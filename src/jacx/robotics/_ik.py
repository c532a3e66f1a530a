"""Inverse kinematics by resolved rates: Newton steps through the (damped) pseudo-inverse of the Jacobian."""

from __future__ import annotations

import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jacx._api import register_cache
from jacx._errors import JacxUsageError
from jacx.robotics._arm import SerialArm, _vee

__all__ = ["IKResult", "ikine", "pose_error"]


class IKResult(NamedTuple):
    """What :func:`ikine` returns: the joint vector, whether it met the tolerance, the steps taken, the final
    task-space error norm (metres and radians mixed, over the chosen rows).

    >>> from jacx.robotics import planar2
    >>> res = ikine(planar2(), jnp.array([0.0, 1.5]), jnp.array([1.0, 0.3]))
    >>> res.success, bool(jnp.allclose(planar2().fkine(res.q)[:2, 3], jnp.array([0.0, 1.5]), atol=1e-4))
    (True, True)
    """

    q: jax.Array
    success: bool
    iterations: int
    residual: float


def pose_error(T: ArrayLike, T_target: ArrayLike) -> jax.Array:
    """The 6-vector that takes pose ``T`` to ``T_target``, in world axes: (dp, w) with R_target = exp([w]x) R.

    The rotational part is the rotation vector (axis times angle) of R_target R^T, accurate up to angles near pi.

    >>> import numpy as np
    >>> print(np.round(pose_error(jnp.eye(4), jnp.eye(4).at[0, 3].set(0.5)), 3))
    [0.5 0.  0.  0.  0.  0. ]
    """
    dp = T_target[:3, 3] - T[:3, 3]
    R_err = T_target[:3, :3] @ T[:3, :3].T
    sin_axis = _vee(R_err)  # sin(angle) * axis
    cos_angle = jnp.clip((jnp.trace(R_err) - 1.0) / 2.0, -1.0, 1.0)
    sin_angle = jnp.linalg.norm(sin_axis)
    angle = jnp.arctan2(sin_angle, cos_angle)
    scale = jnp.where(sin_angle > 1e-7, angle / jnp.where(sin_angle > 1e-7, sin_angle, 1.0), 1.0)
    return jnp.concatenate([dp, scale * sin_axis])


@functools.partial(register_cache, "inverse-kinematics solvers")
@functools.lru_cache(maxsize=64)
def _solver(arm: SerialArm, rows: tuple[int, ...], damping: float, gain: float, tol: float, max_iter: int,
            max_step: float):
    idx = jnp.array(rows)

    def step(q, T_target):
        e = pose_error(arm.fkine(q), T_target)[idx]
        J = arm.jacob0(q)[idx]
        if damping > 0.0:  # damped least squares: J^T (J J^T + lambda^2 I)^-1 e
            dq = J.T @ jnp.linalg.solve(J @ J.T + damping**2 * jnp.eye(len(rows), dtype=J.dtype), e)
        else:  # plain resolved rate through the pseudo-inverse
            dq = jnp.linalg.pinv(J) @ e
        norm = jnp.linalg.norm(dq)
        dq = dq * jnp.minimum(1.0, max_step / jnp.maximum(norm, 1e-30))
        return q + gain * dq, jnp.linalg.norm(e)

    def solve(q0, T_target):
        def cond(state):
            _, k, err = state
            return (k < max_iter) & (err > tol)

        def body(state):
            q, k, _ = state
            q_new, _ = step(q, T_target)
            err = jnp.linalg.norm(pose_error(arm.fkine(q_new), T_target)[idx])
            return q_new, k + 1, err

        err0 = jnp.linalg.norm(pose_error(arm.fkine(q0), T_target)[idx])
        return jax.lax.while_loop(cond, body, (q0, jnp.asarray(0), err0))

    return jax.jit(solve)


def ikine(
    arm: SerialArm,
    target: ArrayLike,
    q0: ArrayLike | None = None,
    *,
    axes: Literal["all", "trans", "rot"] | None = None,
    damping: float = 0.05,
    gain: float = 1.0,
    tol: float = 1e-5,
    max_iter: int = 500,
    max_step: float = 0.5,
) -> IKResult:
    """Joint angles that put the tool at ``target`` by damped least squares (``damping`` > 0) or the plain
    pseudo-inverse (``damping=0``), iterating q <- q + gain * J^+ e until |e| <= ``tol``.

    ``target`` is a 4 x 4 pose, or a position (3 numbers; 2 for a planar arm) for a position-only task.
    ``axes`` picks the task rows (see :meth:`SerialArm.task_rows`); by default ``"all"`` for a pose and
    ``"trans"`` for a position.  Steps are clipped to ``max_step`` (radians or metres) to stay in the region where
    the linearisation holds.

    >>> from jacx.robotics import planar2
    >>> res = ikine(planar2(), jnp.array([1.0, 1.0]), jnp.array([0.3, 0.3]))
    >>> bool(res.success), bool(jnp.allclose(planar2().fkine(res.q)[:2, 3], jnp.array([1.0, 1.0]), atol=1e-4))
    (True, True)
    """
    target = jnp.asarray(target, dtype=jnp.result_type(float))
    if target.shape == (4, 4):
        T_target = target
        axes = axes or "all"
    elif target.shape in ((3,), (2,)):
        point = jnp.zeros(3, target.dtype).at[: target.shape[0]].set(target)
        T_target = jnp.eye(4, dtype=target.dtype).at[:3, 3].set(point)
        axes = axes or "trans"
        if axes != "trans":
            raise JacxUsageError(
                f"ikine received a position target (shape {target.shape}) with axes={axes!r}; a position fixes "
                "only the 'trans' rows. Pass a 4 x 4 pose, or axes='trans'."
            )
    else:
        raise JacxUsageError(
            f"ikine target must be a 4 x 4 pose or a position of 2 or 3 numbers; received shape {target.shape}. "
            "Pass arm.fkine(q) of a reachable q, or a point."
        )
    if damping < 0 or gain <= 0 or tol <= 0 or max_iter < 1:
        raise JacxUsageError(
            f"ikine needs damping >= 0, gain > 0, tol > 0, max_iter >= 1; received damping={damping}, "
            f"gain={gain}, tol={tol}, max_iter={max_iter}."
        )
    q0 = jnp.zeros(arm.n, target.dtype) if q0 is None else arm._check_q(q0)
    solve = _solver(arm, arm.task_rows(axes), float(damping), float(gain), float(tol), int(max_iter),
                    float(max_step))
    q, k, err = solve(q0.astype(target.dtype), T_target)
    return IKResult(q=q, success=bool(err <= tol), iterations=int(k), residual=float(err))
