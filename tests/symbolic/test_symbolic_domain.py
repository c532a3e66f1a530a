"""The real domain and differentiability at a point: refusals that name the output, the variable and the point."""

import math

import pytest
import sympy

from jacx import ExpressionSyntaxError, JacxUsageError, NonDifferentiablePointError
from jacx.symbolic import (
    OutsideDomainError,
    PointOverflowError,
    SymbolicJacobian,
    check_against_ad,
    jacobian,
    parse_expressions,
)


@pytest.mark.parametrize(
    "expr, point, fragment",
    [
        ("log(x), y", [-1.0, 0.0], "f1 = log(x) is not defined at x = -1, y = 0"),
        ("y, log(x - 1)", [1.0, 0.0], "f2 = log(x - 1) is not defined"),
        ("1/x", [0.0], "divides by zero"),
        ("acos(x)", [2.0], "acos needs an argument between -1 and 1"),
        ("acosh(x)", [0.5], "acosh needs an argument of at least 1"),
        ("x**y", [-1.0, 0.5], "not a real number"),
        ("atan2(y, x)", [0.0, 0.0], "both arguments are 0"),
        ("tan(x)", [math.pi / 2], "infinite where cos(x) = 0"),
    ],
)
def test_outside_the_domain_at_det_at_and_value_at_raise(expr, point, fragment):
    sj = SymbolicJacobian(expr)
    for method in (sj.at, sj.value_at) + ((sj.det_at,) if sj.is_square else ()):
        with pytest.raises(OutsideDomainError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            method(point)
    assert issubclass(OutsideDomainError, JacxUsageError)


def test_overflow_is_its_own_usage_error():
    with pytest.raises(PointOverflowError, match="f1 = exp(.*) overflows at x = 800"):
        SymbolicJacobian("exp(x)").at([800.0])
    assert issubclass(PointOverflowError, JacxUsageError)


@pytest.mark.parametrize(
    "expr, point, fragment",
    [
        ("abs(x), y", [0.0, 1.0], r"f1 = abs\(x\) is not differentiable in x: .* -1 from the left, 1 from the right"),
        ("sqrt(x)", [0.0], r"infinite slope .* undefined from the left, \+infinity from the right"),
        ("asin(x)", [1.0], r"\+infinity from the left, undefined from the right"),
        ("sign(x)*y, y", [0.0, 2.0], "jumps"),
        ("atan2(y, x)", [-1.0, 0.0], r"f1 = atan2\(y, x\) is not differentiable in y"),
    ],
)
def test_not_differentiable_names_output_variable_and_one_sided_values(expr, point, fragment):
    sj = SymbolicJacobian(expr)
    with pytest.raises(NonDifferentiablePointError, match=fragment) as info:
        sj.at(point)
    assert info.value.issues and info.value.issues[0].output == 0


def test_kinks_that_cancel_are_differentiable():
    assert SymbolicJacobian("abs(x)*y, y").at([0.0, 0.0]).tolist() == [[0.0, 0.0], [0.0, 1.0]]
    assert SymbolicJacobian("abs(x*y)").at([0.0, 0.0]).tolist() == [[0.0, 0.0]]
    assert SymbolicJacobian("abs(x)").at([-2.0]).tolist() == [[-1.0]]


def test_ad_disagreement_is_explained():
    result = check_against_ad("abs(x), y", [0.0, 1.0])
    assert not result.ok
    assert "abs(x) has a kink where x = 0" in result.explanation and "AD picks 1" in result.explanation
    assert "Why:" in str(result)
    assert check_against_ad("x*y", [1.0, 2.0]).explanation == ""


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("log(-1) + x", "log needs a positive argument"),
        ("asin(2)*x", "asin needs an argument between -1 and 1"),
        ("(-8)^(1/3)*x", "negative number -8"),
        ("sqrt(-1) + x", "not a real number"),
    ],
)
def test_constants_that_are_not_real_are_refused_when_parsed(text, fragment):
    with pytest.raises(OutsideDomainError, match=fragment.replace("(", r"\(")):
        parse_expressions(text)


def test_juxtaposed_names_are_refused_with_a_hint():
    with pytest.raises(ExpressionSyntaxError, match=r"did you mean x\*y\?"):
        jacobian("x**2 + y, xy")
    with pytest.raises(ExpressionSyntaxError, match=r"did you mean a\*b\*c\?"):
        SymbolicJacobian("abc + a + b + c")
    assert SymbolicJacobian("x**2 + y, xy", "x y xy").shape == (2, 3)
    assert SymbolicJacobian("xy + x").variables[1].name == "xy"  # 'xy' is not made of x and another variable


def test_costly_factoring_is_skipped():
    sj = SymbolicJacobian("(x+1)^1000 + (x-1)^1000")
    assert sympy.expand(sj.det() - sj.matrix[0, 0]) == 0
    assert str(SymbolicJacobian("x^2 - y^2, 2*x*y").det()) == "4*(x**2 + y**2)"  # small ones are still factored
