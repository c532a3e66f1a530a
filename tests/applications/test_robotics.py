"""jacx.robotics against published toolbox values, closed forms, the cross-product formula and finite differences."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacx._errors import JacxUsageError
from jacx.robotics import DHLink, SerialArm, ikine, panda, planar2, planar3, pose_error, puma560

# --- Published reference values ------------------------------------------------------------------------------
# Source: Robotics Toolbox for MATLAB (P. Corke), unit_test/SerialLinkTest.m, Test_jacob0 / Test_jacobn /
# Test_maniplty, for the model mdl_puma560 (standard DH, Corke & Armstrong-Helouvry 1994) at the toolbox's
# nominal pose as used there, qn = [0 pi/4 -pi 1 pi/4 0], and at qz = [0 1 0 0 2 0].  Printed to 4 decimals.
PUMA_QN = [0.0, math.pi / 4, -math.pi, 1.0, math.pi / 4, 0.0]
PUMA_JACOB0_QN = [
    [0.1501, 0.0144, 0.3197, 0, 0, 0],
    [0.5963, -0.0000, -0.0000, 0, 0, 0],
    [-0.0000, 0.5963, 0.2910, 0, 0, 0],
    [0.0000, -0.0000, -0.0000, 0.7071, -0.5950, 0.7702],
    [-0.0000, -1.0000, -1.0000, 0, -0.5403, -0.5950],
    [1.0000, 0.0000, 0.0000, -0.7071, -0.5950, -0.2298],
]
PUMA_JACOBN_QN = [
    [0.3893, -0.4559, -0.1506, 0, 0, 0],
    [0.4115, 0.3633, 0.3633, 0, 0, 0],
    [-0.2392, -0.1260, 0.1793, 0, 0, 0],
    [-0.7702, -0.5950, -0.5950, 0.7071, 0, 0],
    [0.5950, -0.5403, -0.5403, -0.0000, -1.0000, 0],
    [-0.2298, 0.5950, 0.5950, 0.7071, 0.0000, 1.0000],
]
PUMA_QZ = [0.0, 1.0, 0.0, 0.0, 2.0, 0.0]
PUMA_JACOB0_QZ = [
    [0.1501, -0.6137, -0.2504, 0, 0, 0],
    [-0.1191, -0.0000, -0.0000, 0, 0, 0],
    [-0.0000, -0.1191, -0.3524, 0, 0, 0],
    [0, -0.0000, -0.0000, -0.8415, -0.0000, -0.1411],
    [0.0000, -1.0000, -1.0000, -0.0000, -1.0000, -0.0000],
    [1.0000, 0.0000, 0.0000, 0.5403, 0.0000, -0.9900],
]
PUMA_MANIP_QN = {"trans": 0.1112, "rot": 2.5936, "all": 0.0786}

# Source: Robotics Toolbox for Python (P. Corke, J. Haviland), tests of the ETS Panda model (test_fkine,
# test_jacob0, test_manipulability) at q1 below; the model is Franka's modified-DH table with the hand as tool.
PANDA_Q1 = [1.4, 0.2, 1.8, 0.7, 0.1, 3.1, 2.9]
PANDA_FKINE_Q1 = [
    [-0.50827907, -0.57904589, 0.63746234, 0.44682295],
    [0.83014553, -0.52639462, 0.18375824, 0.16168396],
    [0.22915229, 0.62258699, 0.74824773, 0.96798113],
    [0.0, 0.0, 0.0, 1.0],
]
PANDA_JACOB0_Q1 = [
    [-1.61683957e-01, 1.07925929e-01, -3.41453006e-02, 3.35029257e-01, -1.07195463e-02, 1.03187865e-01, 0.0],
    [4.46822947e-01, 6.25741987e-01, 4.16474664e-01, -8.04745724e-02, 7.78257566e-02, -1.17720983e-02, 0.0],
    [0.0, -2.35276631e-01, -8.20187641e-02, -5.14076923e-01, -9.98040745e-03, -2.02626953e-01, 0.0],
    [0.0, -9.85449730e-01, 3.37672585e-02, -6.16735653e-02, 6.68449878e-01, -1.35361558e-01, 6.37462344e-01],
    [0.0, 1.69967143e-01, 1.95778638e-01, 9.79165111e-01, 1.84470262e-01, 9.82748279e-01, 1.83758244e-01],
    [1.0, 0.0, 9.80066578e-01, -1.93473657e-01, 7.20517510e-01, -1.26028049e-01, 7.48247732e-01],
]
PANDA_MANIP_Q1 = 0.006559178039088341


def test_puma_jacob0_matches_robotics_toolbox():
    arm = puma560()
    np.testing.assert_allclose(arm.jacob0(jnp.array(PUMA_QN)), PUMA_JACOB0_QN, atol=1.5e-4)
    np.testing.assert_allclose(arm.jacob0(jnp.array(PUMA_QZ)), PUMA_JACOB0_QZ, atol=1.5e-4)


def test_puma_jacobe_matches_robotics_toolbox():
    np.testing.assert_allclose(puma560().jacobe(jnp.array(PUMA_QN)), PUMA_JACOBN_QN, atol=1.5e-4)


@pytest.mark.parametrize("axes", ["trans", "rot", "all"])
def test_puma_manipulability_matches_robotics_toolbox(axes):
    value = float(puma560().manipulability(jnp.array(PUMA_QN), axes=axes))
    assert value == pytest.approx(PUMA_MANIP_QN[axes], abs=1.5e-4)


def test_panda_matches_robotics_toolbox():
    arm = panda()
    q = jnp.array(PANDA_Q1)
    np.testing.assert_allclose(arm.fkine(q), PANDA_FKINE_Q1, atol=2e-6)
    np.testing.assert_allclose(arm.jacob0(q), PANDA_JACOB0_Q1, atol=2e-6)
    assert float(arm.manipulability(q)) == pytest.approx(PANDA_MANIP_Q1, rel=1e-4)


def test_puma_named_poses():
    arm = puma560()
    # qz, by hand from the table: upper arm a2 along x, elbow offset a3 along x, d3 sideways (-y), forearm d4 up.
    T = np.asarray(arm.fkine(arm.config("qz")))
    np.testing.assert_allclose(T[:3, 3], [0.4318 + 0.0203, -0.15005, 0.4318], atol=1e-6)
    # with q5 = 0 the axes of joints 4 and 6 coincide (wrist singularity), in qz and in qr alike
    assert arm.is_singular(arm.config("qz"))
    assert arm.is_singular(arm.config("qr"))
    assert not arm.is_singular(arm.config("qn"))


# --- Closed forms ---------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    q1=st.floats(-3.1, 3.1),
    q2=st.floats(-3.1, 3.1),
    a1=st.sampled_from([0.3, 1.0, 1.7]),  # a few link lengths: each arm is compiled once
    a2=st.sampled_from([0.5, 1.2]),
)
def test_planar2_closed_form(q1, q2, a1, a2):
    arm = planar2(a1, a2)
    q = jnp.array([q1, q2])
    s1, c1, s12, c12 = math.sin(q1), math.cos(q1), math.sin(q1 + q2), math.cos(q1 + q2)
    J = np.asarray(arm.jacob0(q))
    expected_xy = [[-a1 * s1 - a2 * s12, -a2 * s12], [a1 * c1 + a2 * c12, a2 * c12]]
    np.testing.assert_allclose(J[:2], expected_xy, atol=2e-5)
    np.testing.assert_allclose(J[2:5], 0.0, atol=2e-6)
    np.testing.assert_allclose(J[5], [1.0, 1.0], atol=2e-6)
    # manipulability of a 2R arm is a1 a2 |sin q2|
    assert float(arm.manipulability(q, axes="trans")) == pytest.approx(a1 * a2 * abs(math.sin(q2)), abs=5e-5)


def test_planar3_closed_form_fkine():
    arm = planar3(1.0, 0.5, 0.25)
    q = jnp.array([0.2, -0.4, 0.9])
    x = math.cos(0.2) + 0.5 * math.cos(-0.2) + 0.25 * math.cos(0.7)
    y = math.sin(0.2) + 0.5 * math.sin(-0.2) + 0.25 * math.sin(0.7)
    np.testing.assert_allclose(np.asarray(arm.fkine(q))[:2, 3], [x, y], atol=1e-6)
    assert arm.jacob0(q).shape == (6, 3)


# --- AD against the classical cross-product formula and finite differences ----------------------------------

angles = st.lists(st.floats(-3.0, 3.0), min_size=7, max_size=7)


@settings(max_examples=15, deadline=None)
@given(q=angles)
def test_ad_jacobian_equals_cross_product_formula(q):
    for arm in (puma560(), panda()):
        qq = jnp.array(q[: arm.n])
        np.testing.assert_allclose(arm.jacob0(qq), arm.jacob0_cross(qq), atol=1e-5)


def test_mixed_prismatic_chain_cross_formula_and_finite_differences(x64):
    arm = SerialArm(
        (DHLink(alpha=math.pi / 2, d=0.3), DHLink(joint="P", theta=0.4, alpha=-math.pi / 2), DHLink(a=0.5)),
        convention="modified",
        name="RPR",
    )
    q = jnp.array([0.3, 0.2, -0.8])
    J = np.asarray(arm.jacob0(q))
    np.testing.assert_allclose(J, arm.jacob0_cross(q), atol=1e-12)
    # linear rows against central differences of the tool position
    h = 1e-6
    fd = np.stack(
        [(np.asarray(arm.fkine(q.at[j].add(h)))[:3, 3] - np.asarray(arm.fkine(q.at[j].add(-h)))[:3, 3]) / (2 * h)
         for j in range(3)], axis=1)
    np.testing.assert_allclose(J[:3], fd, atol=1e-8)
    np.testing.assert_allclose(J[3:, 1], 0.0, atol=1e-12)  # a prismatic joint does not rotate the tool


def test_angular_rows_match_finite_difference_of_rotation(x64):
    arm = puma560()
    q = jnp.array([0.1, 0.5, -0.3, 0.7, 0.4, -0.2])
    R = np.asarray(arm.fkine(q))[:3, :3]
    h = 1e-6
    for j in range(6):
        dR = (np.asarray(arm.fkine(q.at[j].add(h)))[:3, :3] - np.asarray(arm.fkine(q.at[j].add(-h)))[:3, :3]) / (2 * h)
        S = dR @ R.T
        np.testing.assert_allclose(S, -S.T, atol=1e-8)  # skew-symmetric, as a rotation rate must be
        np.testing.assert_allclose(arm.jacob0(q)[3:, j], [S[2, 1], S[0, 2], S[1, 0]], atol=1e-8)


# --- Inverse kinematics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("damping", [0.05, 0.0])
def test_ikine_reaches_reachable_puma_pose(damping):
    arm = puma560()
    q_goal = jnp.array([0.4, 0.6, 2.7, 0.3, 0.5, -0.4])
    T_goal = arm.fkine(q_goal)
    res = ikine(arm, T_goal, q_goal + jnp.array([0.3, -0.25, 0.2, -0.3, 0.3, 0.2]), damping=damping)
    assert res.success
    np.testing.assert_allclose(arm.fkine(res.q), T_goal, atol=1e-4)


def test_ikine_panda_redundant_pose():
    arm = panda()
    T_goal = arm.fkine(jnp.array(PANDA_Q1))
    res = ikine(arm, T_goal, jnp.array(PANDA_Q1) + 0.2)
    assert res.success and res.residual <= 1e-5
    assert float(jnp.linalg.norm(pose_error(arm.fkine(res.q), T_goal))) < 2e-5


def test_ikine_planar_position_and_unreachable():
    arm = planar2()
    res = ikine(arm, jnp.array([0.5, 1.2]), jnp.array([0.1, 0.4]))
    assert res.success
    np.testing.assert_allclose(np.asarray(arm.fkine(res.q))[:2, 3], [0.5, 1.2], atol=5e-5)
    far = ikine(arm, jnp.array([3.0, 0.0]), jnp.array([0.1, 0.4]), max_iter=100)
    # the closest reachable point is 2 m from the base, so the error cannot drop below 1 m; DLS creeps towards it
    assert not far.success and 1.0 - 1e-4 <= far.residual < 1.05


def test_pose_error_rotation_vector():
    angle = 0.7
    c, s = math.cos(angle), math.sin(angle)
    T = jnp.eye(4).at[:3, :3].set(jnp.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]))
    np.testing.assert_allclose(pose_error(jnp.eye(4), T), [0, 0, 0, 0, 0, angle], atol=1e-6)


def test_usage_errors_are_clear():
    with pytest.raises(JacxUsageError, match="6 joints"):
        puma560().jacob0(jnp.zeros(5))
    with pytest.raises(JacxUsageError, match="'standard' or 'modified'"):
        SerialArm((DHLink(),), convention="craig")
    with pytest.raises(JacxUsageError, match="position"):
        ikine(planar2(), jnp.array([1.0, 0.0]), axes="all")
    with pytest.raises(JacxUsageError, match="no configuration"):
        puma560().config("qq")
