"""The tutorial's worked example and exercises, checked against hand-derived formulas, SymPy's own
Matrix.jacobian and float64 central finite differences; plus the walkthrough printed by `jacx`."""

import io
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx
from jacx._cli import interpret, main
from jacx._tutorial import MODE_COST_RULE, run_tutorial
from jacx.symbolic import SymbolicJacobian, jacobian

x, y, z = sympy.symbols("x y z", real=True)


def central_difference(f, p, h=1e-6):
    p = np.asarray(p, dtype=np.float64)
    cols = []
    for j in range(p.size):
        e = np.zeros_like(p)
        e[j] = h
        cols.append((np.asarray(f(p + e)) - np.asarray(f(p - e))) / (2 * h))
    return np.stack(cols, axis=-1)


# --- worked example: F(x, y) = (x^2 + y, xy) ---------------------------------------------------------------------


def test_example_symbolic():
    J = jacobian("x^2 + y, x*y")
    assert J == sympy.Matrix([[2 * x, 1], [y, x]])
    assert J == sympy.Matrix([x**2 + y, x * y]).jacobian([x, y])


@pytest.mark.parametrize("point, expected", [((1.0, 2.0), [[2, 1], [2, 1]]), ((0.0, 1.0), [[0, 1], [1, 0]])])
def test_example_values(point, expected):
    sj = SymbolicJacobian("x^2 + y, x*y")
    np.testing.assert_array_equal(sj.at(point), expected)
    F = lambda v: np.array([v[0] ** 2 + v[1], v[0] * v[1]])  # noqa: E731
    np.testing.assert_allclose(central_difference(F, point), expected, atol=1e-8)


def test_example_interpretation():
    at_12 = interpret([[2.0, 1.0], [2.0, 1.0]], ["x", "y"])
    assert at_12 == [
        "increasing x by a small dx changes f1 by 2 dx and f2 by 2 dx",
        "changing y by dy changes f1 by 1 dy and f2 by 1 dy",
    ]
    at_01 = interpret([[0.0, 1.0], [1.0, 0.0]], ["x", "y"])
    assert "does not affect f1" in at_01[0] and "changes f2" in at_01[0]  # x moves f2 only
    assert "changes f1" in at_01[1] and "does not affect f2" in at_01[1]  # y moves f1 only


# --- exercise 1: F(x, y, z) = (x^2 + yz, sin(xy), e^(x+z)) -------------------------------------------------------

F3_TEXT = "x^2 + y*z, sin(x*y), e^(x + z)"


def F3(v):
    return np.array([v[0] ** 2 + v[1] * v[2], np.sin(v[0] * v[1]), np.exp(v[0] + v[2])])


def J3_by_hand(v):
    X, Y, Z = v
    return np.array([[2 * X, Z, Y], [Y * np.cos(X * Y), X * np.cos(X * Y), 0], [np.exp(X + Z), 0, np.exp(X + Z)]])


def test_exercise_1_symbolic():
    expected = sympy.Matrix(
        [[2 * x, z, y], [y * sympy.cos(x * y), x * sympy.cos(x * y), 0], [sympy.exp(x + z), 0, sympy.exp(x + z)]]
    )
    assert jacobian(F3_TEXT) == expected
    assert jacobian(F3_TEXT) == sympy.Matrix([x**2 + y * z, sympy.sin(x * y), sympy.exp(x + z)]).jacobian([x, y, z])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_exercise_1_values(point):
    sj = SymbolicJacobian(F3_TEXT)
    np.testing.assert_allclose(sj.at(point), J3_by_hand(point), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(sj.at(point), central_difference(F3, point), rtol=1e-7, atol=1e-7)


# --- exercise 2: F(x, y) = (x^2 - y^2, 2xy) ------------------------------------------------------------------------


def test_exercise_2_determinant():
    sj = SymbolicJacobian("x^2 - y^2, 2*x*y")
    assert sympy.expand(sj.det() - 4 * (x**2 + y**2)) == 0
    F = lambda v: jnp.stack([v[0] ** 2 - v[1] ** 2, 2 * v[0] * v[1]])  # noqa: E731
    for p in ([1.0, 0.0], [1.0, 2.0], [-0.5, 0.3]):
        r2 = p[0] ** 2 + p[1] ** 2
        assert float(jacx.det(F)(jnp.asarray(p))) == pytest.approx(4 * r2, rel=1e-5)
        change = jacx.volume_change(F)(jnp.asarray(p))
        assert change.kind == "expands" if 4 * r2 > 1 else change.kind == "contracts"
        assert change.orientation == "kept"
    assert jacx.volume_change(F)(jnp.zeros(2)).kind == "singular"


# --- exercise 3: the chain rule ------------------------------------------------------------------------------------


def test_exercise_3_chain_rule_numerically():
    H = lambda v: np.array([v[0] * v[1], v[0] + v[1]])  # noqa: E731
    G = lambda u: np.array([np.sin(u[0]), u[0] * u[1]])  # noqa: E731
    for p in ([1.0, 2.0], [-0.7, 0.3]):
        J_H = central_difference(H, p)
        J_G = central_difference(G, H(np.asarray(p)))
        J_GH = central_difference(lambda v: G(H(v)), p)
        np.testing.assert_allclose(J_G @ J_H, J_GH, atol=1e-7)
        u = sympy.symbols("u v", real=True)
        sym_G = sympy.Matrix([sympy.sin(u[0]), u[0] * u[1]]).jacobian(list(u))
        sym_H = sympy.Matrix([x * y, x + y]).jacobian([x, y])
        at = {x: p[0], y: p[1]}
        Hp = H(np.asarray(p))
        prod = np.array(sym_G.subs({u[0]: Hp[0], u[1]: Hp[1]}).evalf(), float) @ np.array(sym_H.subs(at), float)
        np.testing.assert_allclose(prod, J_GH, atol=1e-7)


# --- exercise 4: a layer, a linear map, m = 1 ----------------------------------------------------------------------


def test_exercise_4_layer():
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    b = np.array([0.1, -0.2])
    sj = SymbolicJacobian("sigmoid(x1 - 2*x2 + 0.1), sigmoid(0.5*x1 + 3*x2 - 0.2)", "x1 x2")
    layer = lambda v: 1 / (1 + np.exp(-(W @ v + b)))  # noqa: E731
    for p in ([0.3, -0.4], [-1.0, 0.2]):
        s = layer(np.asarray(p))
        formula = np.diag(s * (1 - s)) @ W
        np.testing.assert_allclose(sj.at(p), formula, rtol=1e-12)
        np.testing.assert_allclose(central_difference(layer, p), formula, atol=1e-8)


def test_exercise_4_linear_map_and_gradient():
    A = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    sj = SymbolicJacobian("x + 2*y, -y + 3*z", "x y z")
    assert sj.matrix == sympy.Matrix(A.astype(int))
    for p in ([0.0, 0.0, 0.0], [5.0, -1.0, 2.0]):
        np.testing.assert_array_equal(sj.at(p), A)
    g = SymbolicJacobian("x^2*y + sin(z)", "x y z")
    assert g.shape == (1, 3)
    assert g.matrix == sympy.Matrix([[2 * x * y, x**2, sympy.cos(z)]])
    np.testing.assert_allclose(g.at([1.0, 2.0, 0.5])[0], [4.0, 1.0, np.cos(0.5)], rtol=1e-14)


# --- the mode cost rule --------------------------------------------------------------------------------------------


def test_mode_cost_rule_is_stated_correctly():
    text = " ".join(MODE_COST_RULE.split())
    assert "Forward mode builds J one column at a time" in text
    assert "about n passes, one per input" in text
    assert "about m passes, one per output" in text
    assert "other way round" in text


def test_forward_mode_really_uses_one_jvp_per_input():
    # jax.jacfwd pushes one tangent per input (a vmap over n basis vectors); jax.jacrev pulls one per output.
    f = lambda v: jnp.stack([jnp.sum(v**2), jnp.prod(v)])  # m = 2 outputs, n = 5 inputs  # noqa: E731
    fwd = str(jax.make_jaxpr(jax.jacfwd(f))(jnp.ones(5)))
    rev = str(jax.make_jaxpr(jax.jacrev(f))(jnp.ones(5)))
    fwd, rev = fwd.replace(" ", ""), rev.replace(" ", "")
    assert "5,5" in fwd and "2,2" not in fwd  # a batch of n = 5 tangents (the identity in input space)
    assert "2,2" in rev and "5,5" not in rev  # a batch of m = 2 cotangents (the identity in output space)


# --- the walkthrough ------------------------------------------------------------------------------------------------


def test_jacx_without_arguments_runs_the_walkthrough_and_everything_agrees(capsys):
    assert main([]) == 0
    text = capsys.readouterr().out
    for title in ("Worked example", "Exercise 1", "Exercise 2", "Exercise 3", "Exercise 4", "Which mode costs what"):
        assert title in text
    diffs = [float(v) for v in re.findall(r"max \|[^|]*\| (?:by AD )?= ([0-9.e+-]+)", text)]
    assert len(diffs) >= 10
    assert max(diffs) < 1e-12
    assert "does not affect f1 and changes f2 by 1 dx" in text
    assert "det J = 4*(x**2 + y**2)" in text
    assert "simplifies to zero: True" in text


def test_run_tutorial_writes_to_a_given_stream():
    buffer = io.StringIO()
    import jacx._tutorial as tutorial

    with jax.enable_x64(True):  # as run_tutorial does
        tutorial._example_1(buffer)  # one section is enough here; the whole walkthrough is run above
    assert "f1 [2*x  1]" in buffer.getvalue()
    assert run_tutorial.__doc__ and "0" in run_tutorial.__doc__
