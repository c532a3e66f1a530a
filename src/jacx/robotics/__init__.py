"""Robot velocity kinematics on jacx: DH chains, geometric Jacobians, manipulability and inverse kinematics.

>>> import jax.numpy as jnp
>>> from jacx.robotics import puma560
>>> arm = puma560()
>>> arm.jacob0(arm.config("qn")).shape
(6, 6)
"""

from jacx.robotics._arm import DHLink, SerialArm
from jacx.robotics._ik import IKResult, ikine, pose_error
from jacx.robotics._models import panda, planar2, planar3, puma560

__all__ = ["DHLink", "SerialArm", "IKResult", "ikine", "pose_error", "planar2", "planar3", "puma560", "panda"]
