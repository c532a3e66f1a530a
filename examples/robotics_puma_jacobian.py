"""Puma 560 velocity kinematics: Jacobian, manipulability, singularities and inverse kinematics.

Run: python examples/robotics_puma_jacobian.py   (same checks as `jacx demo robotics`)
"""

import jax.numpy as jnp
import numpy as np

from jacx.robotics import ikine, puma560

arm = puma560()
qn = arm.config("qn")
np.set_printoptions(precision=4, suppress=True)
print("Puma 560 world-frame Jacobian at qn (AD of forward kinematics):")
print(np.asarray(arm.jacob0(qn)) + 0.0)
print("max |AD - cross-product formula| =", float(jnp.abs(arm.jacob0(qn) - arm.jacob0_cross(qn)).max()))
for name in ("qz", "qr", "qn"):
    q = arm.config(name)
    print(f"{name}: manipulability {float(arm.manipulability(q)):.4f}, singular: {arm.is_singular(q)}")
goal = arm.fkine(jnp.array([0.4, 0.6, 2.7, 0.3, 0.5, -0.4]))
res = ikine(arm, goal, qn)
print(f"damped least squares IK from qn: success={res.success} in {res.iterations} steps, |e|={res.residual:.1e}")
