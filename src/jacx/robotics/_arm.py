"""Serial manipulators described by Denavit-Hartenberg parameters.

Forward kinematics is written once, as a pure JAX function of the joint vector; the geometric Jacobian is then
obtained from jacx's Jacobian of that function instead of from hand-written column formulas.  The classical
cross-product construction is kept (:meth:`SerialArm.jacob0_cross`) as an independent reference.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal, final

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jacx._api import register_cache
from jacx._dense import jacobian
from jacx._errors import JacxUsageError

__all__ = ["DHLink", "SerialArm"]

Convention = Literal["standard", "modified"]


@final
@dataclasses.dataclass(frozen=True)
class DHLink:
    """One joint and the link after it, in Denavit-Hartenberg parameters (lengths in metres, angles in radians).

    For the *standard* convention the row is (a_i, alpha_i, d_i); for the *modified* (Craig) convention it is
    (a_{i-1}, alpha_{i-1}, d_i), as in the usual tables.  ``offset`` is added to the joint variable; ``joint`` is
    ``"R"`` (revolute: q is the angle theta) or ``"P"`` (prismatic: q is the distance d).

    >>> DHLink(a=0.4318).joint
    'R'
    """

    a: float = 0.0
    alpha: float = 0.0
    d: float = 0.0
    offset: float = 0.0
    joint: Literal["R", "P"] = "R"
    theta: float = 0.0

    def __post_init__(self) -> None:
        if self.joint not in ("R", "P"):
            raise JacxUsageError(
                f"DHLink joint must be 'R' (revolute) or 'P' (prismatic); received {self.joint!r}. "
                "Pass joint='R' or joint='P'."
            )


def _rot_x(t):
    c, s = jnp.cos(t), jnp.sin(t)
    one, zero = jnp.ones_like(t), jnp.zeros_like(t)
    return jnp.array([[one, zero, zero, zero], [zero, c, -s, zero], [zero, s, c, zero], [zero, zero, zero, one]])


def _rot_z(t):
    c, s = jnp.cos(t), jnp.sin(t)
    one, zero = jnp.ones_like(t), jnp.zeros_like(t)
    return jnp.array([[c, -s, zero, zero], [s, c, zero, zero], [zero, zero, one, zero], [zero, zero, zero, one]])


def _trans(x, y, z):
    return jnp.eye(4).at[0, 3].set(x).at[1, 3].set(y).at[2, 3].set(z)


def _vee(s):
    """The vector w of a (near) skew-symmetric 3x3 matrix [w]x, from its antisymmetric part."""
    return 0.5 * jnp.array([s[2, 1] - s[1, 2], s[0, 2] - s[2, 0], s[1, 0] - s[0, 1]])


@final
@dataclasses.dataclass(frozen=True)
class SerialArm:
    """A serial-link manipulator: a chain of :class:`DHLink` from ``base`` to ``tool``.

    Joint vectors ``q`` have one entry per link.  Poses are 4 x 4 homogeneous transforms.  Jacobians are 6 x n
    with rows (vx, vy, vz, wx, wy, wz): linear velocity of the tool point, then angular velocity.  A ``planar``
    arm moves in the x-y plane: its task space is (x, y) for ``"trans"``, (wz) for ``"rot"`` and (x, y, wz) for
    ``"all"`` wherever rows are chosen (manipulability, singularity, inverse kinematics).

    >>> arm = SerialArm((DHLink(a=1.0), DHLink(a=1.0)), name="two-link")
    >>> print(np.round(arm.fkine(jnp.array([0.0, jnp.pi / 2]))[:2, 3], 3))
    [1. 1.]
    """

    links: tuple[DHLink, ...]
    convention: Convention = "standard"
    name: str = "arm"
    base: tuple[tuple[float, ...], ...] | None = None
    tool: tuple[tuple[float, ...], ...] | None = None
    configs: tuple[tuple[str, tuple[float, ...]], ...] = ()
    planar: bool = False

    def __post_init__(self) -> None:
        if self.convention not in ("standard", "modified"):
            raise JacxUsageError(
                f"SerialArm convention must be 'standard' or 'modified'; received {self.convention!r}. "
                "Use 'modified' for Craig-style tables (alpha_{i-1}, a_{i-1} on row i)."
            )
        if len(self.links) == 0 or not all(isinstance(link, DHLink) for link in self.links):
            raise JacxUsageError(
                f"SerialArm needs a non-empty tuple of DHLink; received {self.links!r}. "
                "Build each row with DHLink(...)."
            )
        for label, mat in (("base", self.base), ("tool", self.tool)):
            if mat is not None and np.asarray(mat).shape != (4, 4):
                raise JacxUsageError(
                    f"SerialArm {label} must be a 4 x 4 homogeneous transform; received shape "
                    f"{np.asarray(mat).shape}. Pass a nested tuple of 4 rows of 4 numbers, or None."
                )

    @property
    def n(self) -> int:
        """Number of joints."""
        return len(self.links)

    def config(self, name: str) -> jax.Array:
        """A named joint configuration of a built-in model (e.g. ``"qz"``, ``"qn"``)."""
        table = dict(self.configs)
        if name not in table:
            raise JacxUsageError(
                f"{self.name} has no configuration {name!r}; it has {sorted(table)}. Pass one of those names."
            )
        return jnp.asarray(table[name], dtype=float)

    # -- kinematics -------------------------------------------------------------------------------------------

    def _check_q(self, q: ArrayLike) -> jax.Array:
        q = jnp.asarray(q, dtype=jnp.result_type(float))
        if q.shape != (self.n,):
            raise JacxUsageError(
                f"{self.name} has {self.n} joints, so q must have shape ({self.n},); received shape {q.shape}. "
                "Pass one joint value per link."
            )
        return q

    def _link_transform(self, link: DHLink, qi):
        theta = qi + link.offset if link.joint == "R" else jnp.asarray(link.theta + link.offset, qi.dtype)
        d = jnp.asarray(link.d, qi.dtype) if link.joint == "R" else qi + link.offset + link.d
        if self.convention == "standard":
            return _rot_z(theta) @ _trans(0.0, 0.0, d) @ _trans(link.a, 0.0, 0.0) @ _rot_x(jnp.asarray(link.alpha))
        return _rot_x(jnp.asarray(link.alpha)) @ _trans(link.a, 0.0, 0.0) @ _rot_z(theta) @ _trans(0.0, 0.0, d)

    def _frames(self, q) -> list:
        """World poses of frames 0..n (frame 0 is the base), before the tool transform."""
        frame = jnp.eye(4, dtype=q.dtype) if self.base is None else jnp.asarray(self.base, q.dtype)
        frames = [frame]
        for i, link in enumerate(self.links):
            frame = frame @ self._link_transform(link, q[i])
            frames.append(frame)
        return frames

    def fkine(self, q: ArrayLike) -> jax.Array:
        """Forward kinematics: the 4 x 4 world pose of the tool frame at joint vector ``q``.

        >>> from jacx.robotics import planar2
        >>> print(np.round(planar2().fkine(jnp.zeros(2))[:3, 3], 3))
        [2. 0. 0.]
        """
        q = self._check_q(q)
        end = self._frames(q)[-1]
        return end if self.tool is None else end @ jnp.asarray(self.tool, q.dtype)

    # -- Jacobians --------------------------------------------------------------------------------------------

    def jacob0(self, q: ArrayLike) -> jax.Array:
        """The 6 x n geometric Jacobian in the world (base) frame, from AD of :meth:`fkine`.

        Column j is the tool's twist (v, w) when joint j moves at unit rate: v = dp/dq_j and [w]x = dR/dq_j R^T.

        >>> from jacx.robotics import planar2
        >>> print(np.round(np.asarray(planar2().jacob0(jnp.array([0.0, 0.0])))[[0, 1, 5]], 3) + 0.0)
        [[0. 0.]
         [2. 1.]
         [1. 1.]]
        """
        return _compiled_jacob0(self)(self._check_q(q))

    def jacobe(self, q: ArrayLike) -> jax.Array:
        """The 6 x n geometric Jacobian expressed in the end-effector (tool) frame: blockdiag(R^T, R^T) J0.

        >>> from jacx.robotics import planar2
        >>> print(np.round(np.asarray(planar2().jacobe(jnp.array([jnp.pi / 2, 0.0])))[:2], 3) + 0.0)
        [[0. 0.]
         [2. 1.]]
        """
        q = self._check_q(q)
        R = self.fkine(q)[:3, :3]
        J = self.jacob0(q)
        return jnp.concatenate([R.T @ J[:3], R.T @ J[3:]], axis=0)

    def jacob0_cross(self, q: ArrayLike) -> jax.Array:
        """The classical cross-product construction of the world-frame Jacobian, an independent reference.

        Revolute joint: (z x (p_tool - o), z); prismatic joint: (z, 0), with z and o the joint's axis and origin.

        >>> from jacx.robotics import planar2
        >>> q = jnp.array([0.3, -0.7])
        >>> bool(jnp.allclose(planar2().jacob0_cross(q), planar2().jacob0(q), atol=1e-5))
        True
        """
        return _compiled_cross(self)(self._check_q(q))

    def _jacob0_cross(self, q) -> jax.Array:
        frames = self._frames(q)
        p_tool = self.fkine(q)[:3, 3]
        cols = []
        for i, link in enumerate(self.links):
            # standard DH: joint i turns about z of frame i-1; modified DH: about z of frame i (after Rx, Tx)
            axis_frame = frames[i] if self.convention == "standard" else frames[i + 1]
            z, o = axis_frame[:3, 2], axis_frame[:3, 3]
            if link.joint == "R":
                cols.append(jnp.concatenate([jnp.cross(z, p_tool - o), z]))
            else:
                cols.append(jnp.concatenate([z, jnp.zeros(3, q.dtype)]))
        return jnp.stack(cols, axis=1)

    # -- measures ---------------------------------------------------------------------------------------------

    def task_rows(self, axes: str = "all") -> tuple[int, ...]:
        """The Jacobian rows that make up the task space named by ``axes`` (``"all"``, ``"trans"``, ``"rot"``).

        >>> from jacx.robotics import planar2
        >>> planar2().task_rows("all")
        (0, 1, 5)
        """
        table = {
            False: {"all": (0, 1, 2, 3, 4, 5), "trans": (0, 1, 2), "rot": (3, 4, 5)},
            True: {"all": (0, 1, 5), "trans": (0, 1), "rot": (5,)},
        }[self.planar]
        if axes not in table:
            raise JacxUsageError(f"axes must be 'all', 'trans' or 'rot'; received {axes!r}. Pick one of those.")
        return table[axes]

    def manipulability(self, q: ArrayLike, axes: Literal["all", "trans", "rot"] = "all") -> jax.Array:
        """Yoshikawa's manipulability sqrt(det(J J^T)) over the task rows of the world Jacobian.

        ``axes``: ``"all"``, ``"trans"`` (linear velocity rows) or ``"rot"`` (angular rows); see
        :meth:`task_rows`.  Computed as the product of singular values, which is exactly 0 when the rows
        outnumber the joints.

        >>> from jacx.robotics import planar2
        >>> print(round(float(planar2().manipulability(jnp.array([0.0, jnp.pi / 2]), axes="trans")), 3))
        1.0
        """
        J = self.jacob0(q)[jnp.array(self.task_rows(axes))]
        if J.shape[0] > J.shape[1]:
            return jnp.asarray(0.0, J.dtype)
        return jnp.prod(jnp.linalg.svd(J, compute_uv=False))

    def singular_values(self, q: ArrayLike, axes: Literal["all", "trans", "rot"] = "all") -> jax.Array:
        """Singular values of the task rows of the world Jacobian, largest first."""
        return jnp.linalg.svd(self.jacob0(q)[jnp.array(self.task_rows(axes))], compute_uv=False)

    def is_singular(self, q: ArrayLike, tol: float = 1e-4, axes: Literal["all", "trans", "rot"] = "all") -> bool:
        """True where the task Jacobian loses rank: its min(m, n)-th singular value is at most ``tol``.

        >>> from jacx.robotics import planar2
        >>> planar2().is_singular(jnp.array([0.3, 0.0]), axes="trans"), planar2().is_singular(
        ...     jnp.array([0.3, 1.0]), axes="trans")
        (True, False)
        """
        s = np.asarray(self.singular_values(q, axes))
        return bool(s[-1] <= tol)


@functools.partial(register_cache, "robotics Jacobians")
@functools.lru_cache(maxsize=128)
def _compiled_jacob0(arm: SerialArm):
    """One compiled world-Jacobian function per arm (arms compare and hash by value)."""
    pose_jac = jacobian(arm.fkine, mode="forward")  # forward mode: an arm has few joints

    def jac(q):
        T = arm.fkine(q)
        dT = pose_jac(q)  # (4, 4, n): derivative of the pose along each joint
        lin = dT[:3, 3, :]
        ang = jax.vmap(lambda dR: _vee(dR @ T[:3, :3].T), in_axes=2, out_axes=1)(dT[:3, :3, :])
        return jnp.concatenate([lin, ang], axis=0)

    return jax.jit(jac)


@functools.partial(register_cache, "robotics cross-product Jacobians")
@functools.lru_cache(maxsize=128)
def _compiled_cross(arm: SerialArm):
    return jax.jit(arm._jacob0_cross)
