"""Symbolic Jacobians against hand-derived formulas, SymPy's own Matrix.jacobian and finite differences."""

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from jacx import (
    ExpressionSyntaxError,
    JacxUsageError,
    NonDifferentiablePointError,
    NonSquareJacobianError,
    UnsafeExpressionError,
)
from jacx.symbolic import OutsideDomainError, SymbolicJacobian, jacobian, matrix_latex, matrix_text
from jacx.symbolic._functions import relu, sigmoid

from .conftest import central_difference

x, y, z = sympy.symbols("x y z", real=True)
a = sympy.Symbol("a", real=True)


def test_tutorial_function_by_hand():
    J = jacobian("x**2 + y, x*y")
    assert isinstance(J, sympy.Matrix)
    assert J == sympy.Matrix([[2 * x, 1], [y, x]])


def test_three_variable_function_by_hand():
    J = jacobian("x^2 + y*z, sin(x*y), e^(x + z)")
    expected = sympy.Matrix(
        [
            [2 * x, z, y],
            [y * sympy.cos(x * y), x * sympy.cos(x * y), 0],
            [sympy.exp(x + z), 0, sympy.exp(x + z)],
        ]
    )
    assert J == expected


@pytest.mark.parametrize(
    "text, exprs",
    [
        ("x**2 + y, x*y", [x**2 + y, x * y]),
        ("sin(x)*cos(y), tanh(x*y*z), log(1 + x^2)/sqrt(1 + y^2)",
         [sympy.sin(x) * sympy.cos(y), sympy.tanh(x * y * z), sympy.log(1 + x**2) / sympy.sqrt(1 + y**2)]),
        ("atan2(y, x), erf(x - z), abs(x*y)", [sympy.atan2(y, x), sympy.erf(x - z), sympy.Abs(x * y)]),
    ],
)
def test_agrees_with_sympy_matrix_jacobian(text, exprs):
    variables = sorted(set().union(*(e.free_symbols for e in exprs)), key=str)
    assert jacobian(text) == sympy.Matrix(exprs).jacobian(variables)


def test_variable_order_and_parameters():
    assert jacobian("x*y", "y x") == sympy.Matrix([[x, y]])
    assert jacobian("x*y", ["y", "x"]) == sympy.Matrix([[x, y]])
    # a: a parameter, not a column; w: a column that the expression does not use
    assert jacobian("a*x + y", "x y w") == sympy.Matrix([[a, 1, 0]])
    # default order: sorted by name
    assert jacobian("b + a") == sympy.Matrix([[1, 1]])
    assert jacobian("z*x, y") == sympy.Matrix([[z, 0, x], [0, 1, 0]])


def test_default_columns_sorted_by_name():
    sj = SymbolicJacobian("z*x + y")
    assert [v.name for v in sj.variables] == ["x", "y", "z"]
    assert sj.matrix == sympy.Matrix([[z, 1, x]])


def test_list_inputs():
    assert jacobian(["x**2 + y", "x*y"]) == sympy.Matrix([[2 * x, 1], [y, x]])
    assert jacobian([x**2 + y, "x*y"]) == sympy.Matrix([[2 * x, 1], [y, x]])
    plain_x, plain_y = sympy.symbols("x y")  # user symbols without assumptions are kept as they are
    assert jacobian([plain_x * plain_y], [plain_x, plain_y]) == sympy.Matrix([[plain_y, plain_x]])
    assert jacobian(x * y, "x y") == sympy.Matrix([[y, x]])
    with pytest.raises(ExpressionSyntaxError, match="one expression"):
        jacobian(["x, y"])
    with pytest.raises(ExpressionSyntaxError):
        jacobian([object()])
    with pytest.raises(UnsafeExpressionError, match="gamma"):
        jacobian([sympy.gamma(x)])
    with pytest.raises(JacxUsageError, match="no variables"):
        jacobian("2 + 3")


def test_activation_derivatives_match_finite_differences():
    sj = SymbolicJacobian("sigmoid(x), softplus(x), relu(x), sigmoid(x)*softplus(y)", "x y")
    assert sj.matrix[0, 0] == sigmoid(x) * (1 - sigmoid(x))
    assert sj.matrix[1, 0] == sigmoid(x)
    assert sj.matrix[2, 0] == sympy.Heaviside(x, 0)
    ref = lambda v: np.array([1 / (1 + np.exp(-v[0])), np.log1p(np.exp(v[0])), max(v[0], 0.0),  # noqa: E731
                              np.log1p(np.exp(v[1])) / (1 + np.exp(-v[0]))])
    for point in ([0.7, -1.3], [-2.0, 0.4]):
        np.testing.assert_allclose(sj.at(point), central_difference(ref, point), atol=1e-8)
    assert relu(0) == 0 and sj.compile()(0.0, 0.0)[2, 0] == 0.0  # the fast path keeps jax.nn.relu's convention
    with pytest.raises(NonDifferentiablePointError, match=r"f3 = relu\(x\) is not differentiable in x.*0 from the left, "
                       r"1 from the right"):
        sj.at([0.0, 0.0])  # ... but at() says that relu has no derivative at its kink


def test_determinant():
    sj = SymbolicJacobian("x^2 - y^2, 2*x*y")
    assert sympy.expand(sj.det() - 4 * (x**2 + y**2)) == 0
    assert sj.det_at([1.0, 2.0]) == pytest.approx(20.0)
    with pytest.raises(NonSquareJacobianError, match="2 x 3"):
        SymbolicJacobian("x*y*z, x").det()


def test_at_accepts_mappings_and_sequences_and_checks_them():
    sj = SymbolicJacobian("a*x + y, x*y", "x y")
    np.testing.assert_array_equal(sj.at({"x": 1.0, "y": 2.0, "a": 3.0}), [[3.0, 1.0], [2.0, 1.0]])
    with pytest.raises(JacxUsageError, match="no value given for a"):
        sj.at({"x": 1.0, "y": 2.0})
    with pytest.raises(JacxUsageError, match="unknown variable"):
        sj.at({"x": 1.0, "y": 2.0, "a": 1.0, "q": 0.0})
    with pytest.raises(JacxUsageError, match="parameter"):
        sj.at([1.0, 2.0])
    sj2 = SymbolicJacobian("x*y")
    with pytest.raises(JacxUsageError, match="3 value"):
        sj2.at([1.0, 2.0, 3.0])
    with pytest.raises(OutsideDomainError, match=r"f1 = sqrt\(x\) is not defined at x = -1"):
        SymbolicJacobian("sqrt(x)").at([-1.0])


def _F3(v):
    return np.array([v[0] ** 2 + v[1] * v[2], np.sin(v[0] * v[1]), np.exp(v[0] + v[2])])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3))
def test_values_match_float64_central_differences(point):
    sj = SymbolicJacobian("x^2 + y*z, sin(x*y), e^(x + z)")
    np.testing.assert_allclose(sj.at(point), central_difference(_F3, point), rtol=1e-7, atol=1e-7)


def test_rendering():
    sj = SymbolicJacobian("x^2 + y, x*y")
    text = sj.to_text()
    assert text.splitlines() == ["      x  y", "f1 [2*x  1]", "f2 [  y  x]"]
    assert sj.functions_text() == "f1(x, y) = x**2 + y\nf2(x, y) = x*y"
    assert sj.to_latex() == r"J = \left[\begin{matrix}2 x & 1\\y & x\end{matrix}\right]"
    assert r"x^{2} + y" in sj.functions_latex()
    assert matrix_text(np.array([[2.0, -0.0], [1 / 3, 1e-9]]), "ab").splitlines()[1:] == [
        "f1 [       2      0]",
        "f2 [0.333333  1e-09]",
    ]
    expected = r"J = \left[\begin{matrix}2 & 0.5\\-1 & 0\end{matrix}\right]"
    assert matrix_latex(np.array([[2.0, 0.5], [-1.0, 0.0]])) == expected
    assert "SymbolicJacobian" in repr(sj) and sj.shape == (2, 2) and sj.is_square
