"""Built-in manipulator models with their published Denavit-Hartenberg tables."""

from __future__ import annotations

import math

from jacx.robotics._arm import DHLink, SerialArm

__all__ = ["planar2", "planar3", "puma560", "panda"]


def planar2(a1: float = 1.0, a2: float = 1.0) -> SerialArm:
    """A planar arm with two revolute joints and link lengths ``a1``, ``a2`` (standard DH, all twists zero).

    >>> planar2().n
    2
    """
    return SerialArm((DHLink(a=a1), DHLink(a=a2)), name="planar2", planar=True, configs=(("qz", (0.0, 0.0)),))


def planar3(a1: float = 1.0, a2: float = 1.0, a3: float = 1.0) -> SerialArm:
    """A planar arm with three revolute joints (redundant for a position-only task).

    >>> planar3(1.0, 0.5, 0.25).n
    3
    """
    return SerialArm(
        (DHLink(a=a1), DHLink(a=a2), DHLink(a=a3)), name="planar3", planar=True, configs=(("qz", (0.0,) * 3),)
    )


def puma560() -> SerialArm:
    """The Unimation Puma 560 in standard DH parameters, as tabulated by Corke & Armstrong-Helouvry (1994).

    Same kinematic table and named poses (qz, qr, qs, qn) as the Robotics Toolbox model ``mdl_puma560``;
    the base is at the shoulder (d1 = 0), which leaves the Jacobian unchanged.

    >>> print(puma560().links[2])
    DHLink(a=0.0203, alpha=-1.5707963267948966, d=0.15005, offset=0.0, joint='R', theta=0.0)
    """
    half = math.pi / 2
    links = (
        DHLink(a=0.0, alpha=half, d=0.0),
        DHLink(a=0.4318, alpha=0.0, d=0.0),
        DHLink(a=0.0203, alpha=-half, d=0.15005),
        DHLink(a=0.0, alpha=half, d=0.4318),
        DHLink(a=0.0, alpha=-half, d=0.0),
        DHLink(a=0.0, alpha=0.0, d=0.0),
    )
    configs = (
        ("qz", (0.0,) * 6),
        ("qr", (0.0, half, -half, 0.0, 0.0, 0.0)),
        ("qs", (0.0, 0.0, -half, 0.0, 0.0, 0.0)),
        ("qn", (0.0, math.pi / 4, math.pi, 0.0, math.pi / 4, 0.0)),
    )
    return SerialArm(links, convention="standard", name="Puma 560", configs=configs)


def panda(with_hand: bool = True) -> SerialArm:
    """The Franka Emika Panda in modified (Craig) DH parameters from the manufacturer's documentation.

    The flange is 0.107 m beyond joint 7.  With ``with_hand`` the tool frame is the gripper's centre point as the
    Robotics Toolbox models it: a further 0.103 m along z and a -45 degree turn about z.

    >>> panda().n
    7
    """
    half = math.pi / 2
    links = (
        DHLink(a=0.0, alpha=0.0, d=0.333),
        DHLink(a=0.0, alpha=-half, d=0.0),
        DHLink(a=0.0, alpha=half, d=0.316),
        DHLink(a=0.0825, alpha=half, d=0.0),
        DHLink(a=-0.0825, alpha=-half, d=0.384),
        DHLink(a=0.0, alpha=half, d=0.0),
        DHLink(a=0.088, alpha=half, d=0.107),
    )
    tool = None
    if with_hand:
        c = math.cos(-math.pi / 4)
        s = math.sin(-math.pi / 4)
        tool = ((c, -s, 0.0, 0.0), (s, c, 0.0, 0.0), (0.0, 0.0, 1.0, 0.103), (0.0, 0.0, 0.0, 1.0))
    configs = (("qz", (0.0,) * 7), ("qr", (0.0, -0.3, 0.0, -2.2, 0.0, 2.0, math.pi / 4)))
    return SerialArm(links, convention="modified", name="Panda", tool=tool, configs=configs)
