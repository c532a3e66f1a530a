"""Conversion to JAX (AD of the converted function must agree with the symbolic Jacobian), the fast float path
and the AD check helper."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from jacx import UnsafeExpressionError
from jacx.symbolic import SymbolicJacobian, check_against_ad, compile_jacobian, to_jax, validate_tree

x, y, z = sympy.symbols("x y z", real=True)

# Expressions defined (and differentiable) on the box [-1.5, 1.5]^3 used below.
CASES = [
    "x**2 + y, x*y",
    "x^2 + y*z, sin(x*y), e^(x + z)",
    "x^2 - y^2, 2*x*y",
    "tan(x/2) + cot(y/2 + 2) + sec(z/2) + csc(x/2 + 1.6), atan2(y + 3, x), asin(x/2) + acos(y/2) + atan(z)",
    "sinh(x) * cosh(y) + tanh(z), asinh(x) + acosh(y + 3) + atanh(z/2), log(2 + x) + ln(3 + y) + log(4 + z, 2)",
    "sqrt(2 + x) * abs(y + 2) / (1 + z^2), erf(x*y) + erfc(z), sigmoid(x - y) + softplus(z) + relu(x + 3)",
    "(x + 2)^(1/3) + (y + 2)^-0.5 + 2^z, pi*x*y*z",
]


@pytest.fixture(scope="module")
def compiled():
    """For each case: the SymbolicJacobian and the jitted AD Jacobian (float64) of its converted function."""
    with jax.enable_x64(True):
        out = []
        for text in CASES:
            sj = SymbolicJacobian(text)
            out.append((sj, jax.jit(jax.jacfwd(sj.to_jax())), jax.jit(jax.jacrev(sj.to_jax()))))
    return out


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3))
def test_ad_of_converted_function_agrees_with_symbolic(compiled, point):
    with jax.enable_x64(True):
        _agree_at(compiled, point)


def _agree_at(compiled, point):
    for sj, jac_fwd, jac_rev in compiled:
        p = np.asarray(point[: len(sj.variables)])
        sym = sj.at(p)
        np.testing.assert_allclose(np.asarray(jac_fwd(jnp.asarray(p))), sym, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(jac_rev(jnp.asarray(p))), sym, rtol=1e-10, atol=1e-12)


def test_converted_values_match_sympy_evalf(x64):
    for text in CASES:
        sj = SymbolicJacobian(text)
        point = {v: 0.3 + 0.1 * k for k, v in enumerate(sj.variables)}
        expected = [float(f.evalf(subs=point)) for f in sj.functions]
        got = np.asarray(sj.to_jax()(jnp.asarray(list(point.values()))))
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_to_jax_float32_jit_vmap_and_errors():
    f = to_jax([x**2 + y, x * y], [x, y])
    xs = jnp.array([[1.0, 2.0], [0.0, 1.0]])
    out = jax.jit(jax.vmap(jax.jacfwd(f)))(xs)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, [[[2, 1], [2, 1]], [[0, 1], [1, 0]]])
    assert f(jnp.array([1, 2])).dtype == jnp.float32  # integer input is promoted
    with pytest.raises(UnsafeExpressionError, match="shape"):
        f(jnp.ones(3))
    with pytest.raises(UnsafeExpressionError, match="no value"):
        to_jax([x * y], [x])(jnp.ones(1))
    g = to_jax([x * y], [x], {y: 3.0})
    assert float(jax.grad(lambda v: g(v)[0])(jnp.array([2.0]))[0]) == 3.0
    J = to_jax(sympy.Matrix([[2 * x, 1], [y, x]]), [x, y])
    assert J(jnp.array([1.0, 2.0])).shape == (2, 2)


def test_validate_tree_whitelist():
    validate_tree(sympy.sin(x) * sympy.exp(y) + sympy.pi)
    for bad in (sympy.gamma(x), sympy.Function("f")(x), sympy.I * x, sympy.zoo * x, sympy.Integral(x, x)):
        with pytest.raises(UnsafeExpressionError, match="unsupported"):
            validate_tree(bad)
    with pytest.raises(UnsafeExpressionError):
        to_jax([sympy.besselj(0, x)], [x])
    with pytest.raises(UnsafeExpressionError):
        compile_jacobian(sympy.Matrix([[sympy.gamma(x)]]), [x])


def test_fast_path_matches_hand_formula():
    sj = SymbolicJacobian("x^2 + y, x*y")
    J = sj.compile()
    for px, py in [(1.0, 2.0), (0.0, 1.0), (-3.5, 0.25)]:
        out = J(px, py)
        assert out.dtype == np.float64 and out.shape == (2, 2)
        np.testing.assert_array_equal(out, [[2 * px, 1.0], [py, px]])
    assert SymbolicJacobian("2*x + 3*y", "x y").compile()(1, 2).dtype == np.float64  # constant, integer inputs


def test_fast_path_all_functions_agree_with_vectorized_path():
    for text in CASES:
        sj = SymbolicJacobian(text)
        J = sj.compile()
        for k in range(3):
            p = [0.1 + 0.2 * k - 0.15 * i for i in range(len(sj.variables))]
            np.testing.assert_allclose(J(*p), sj.at(p), rtol=1e-13, atol=1e-15)


def test_vectorized_path_broadcasts_constants():
    J = compile_jacobian(sympy.Matrix([[2 * x, 1], [y, x]]), [x, y], vectorized=True)
    xs = np.array([0.0, 1.0, 2.0])
    out = J(xs, 5.0)
    assert out.shape == (3, 2, 2)
    np.testing.assert_array_equal(out[:, 0, 1], 1.0)
    np.testing.assert_array_equal(out[:, 0, 0], 2 * xs)
    np.testing.assert_array_equal(out[:, 1, 0], 5.0)


def test_check_against_ad():
    result = check_against_ad("x^2 + y*z, sin(x*y), e^(x + z)", {"x": 0.5, "y": -1.0, "z": 2.0})
    assert result.ok and result.max_abs_diff < 1e-12
    assert result.symbolic.shape == result.ad.shape == (3, 3)
    assert "agree" in str(result)


def test_check_against_ad_detects_a_wrong_jacobian():
    sj = SymbolicJacobian("x^2 + y, x*y")
    sj.matrix = sympy.Matrix([[2 * x, 1], [x, y]])  # rows of f2 swapped: wrong
    result = check_against_ad(sj, [1.0, 2.0])
    assert not result.ok
    assert result.max_abs_diff == pytest.approx(1.0)
    assert "DISAGREE" in str(result)


def test_check_against_ad_with_parameters_and_undefined_points():
    assert check_against_ad("a*x^2", {"x": 2.0, "a": 3.0}, "x").ok
    assert not check_against_ad("sqrt(x)", [0.0]).ok


# Random expression trees: the AD Jacobian of the converted function equals the symbolic Jacobian.
_leaf = st.one_of(st.sampled_from([x, y, z]), st.integers(-3, 3).map(sympy.Integer))


def _grow(children):
    from jacx.symbolic import sigmoid

    funcs = [sympy.sin, sympy.cos, sympy.tanh, sympy.atan, sigmoid, lambda e: sympy.exp(sympy.sin(e)),
             lambda e: sympy.sqrt(1 + e**2), lambda e: sympy.log(2 + sympy.cos(e))]
    return st.one_of(
        st.tuples(st.sampled_from(funcs), children).map(lambda p: p[0](p[1])),
        st.tuples(st.sampled_from(["+", "*", "-", "/", "^2"]), children, children).map(
            lambda p: {"+": p[1] + p[2], "*": p[1] * p[2], "-": p[1] - p[2], "/": p[1] / (3 + sympy.sin(p[2])),
                       "^2": p[1] ** 2}[p[0]]
        ),
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.recursive(_leaf, _grow, max_leaves=8), min_size=1, max_size=3),
       st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3))
def test_random_trees_ad_equals_symbolic(exprs, point):
    with jax.enable_x64(True):
        sj = SymbolicJacobian(exprs, "x y z")
        ad = np.asarray(jax.jacfwd(sj.to_jax())(jnp.asarray(point)))
        np.testing.assert_allclose(ad, sj.at(point), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sj.compile()(*point), sj.at(point), rtol=1e-12, atol=1e-14)
