"""for_scipy computes in float64 by default, without switching JAX's 64-bit mode on for the caller: SciPy's solvers
reach float64 accuracy, and its finite-difference steps (about 1e-8 relative, below float32's resolution) work."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import jacx.sparse as jsp
from jacx.sparse.problems import broyden_tridiagonal


def _exact_residual(x):
    """The Broyden tridiagonal residual (3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1 in NumPy float64."""
    padded = np.concatenate([[0.0], x, [0.0]])
    return (3.0 - 2.0 * x) * x - padded[:-2] - 2.0 * padded[2:] + 1.0


@pytest.fixture
def problem():
    f, x0 = broyden_tridiagonal(40)
    assert jnp.asarray(x0).dtype == jnp.float32  # the user's own arrays are float32 (64-bit mode is off)
    return f, x0


def test_least_squares_reaches_float64_accuracy(problem):
    f, x0 = problem
    fun, jac = jsp.for_scipy(f, x0)
    sol = scipy.optimize.least_squares(fun, np.asarray(x0, np.float64), jac=jac, xtol=1e-15, ftol=1e-15,
                                       gtol=1e-15)
    # checked with an independent float64 residual: float32 evaluation stops near 1e-6
    assert np.max(np.abs(_exact_residual(sol.x))) < 1e-12


@pytest.mark.parametrize("solve", ["root-hybr", "least_squares-2-point"])
def test_finite_difference_solvers_converge(problem, solve):
    f, x0 = problem
    fun, _ = jsp.for_scipy(f, x0)
    start = np.asarray(x0, np.float64)
    if solve == "root-hybr":  # MINPACK's hybrd: forward differences of fun for its Jacobian
        sol = scipy.optimize.root(fun, start, method="hybr", tol=1e-13)
        assert sol.success, sol.message
    else:
        sol = scipy.optimize.least_squares(fun, start, jac="2-point", xtol=1e-14, ftol=1e-14, gtol=1e-14)
    assert np.max(np.abs(_exact_residual(sol.x))) < 1e-10


def test_values_and_jacobian_are_float64(problem):
    f, x0 = problem
    fun, jac = jsp.for_scipy(f, x0)
    x = np.linspace(-1.0, -0.5, 40) + 1e-9  # not representable in float32
    np.testing.assert_allclose(fun(x), _exact_residual(x), rtol=0, atol=1e-14)
    J = jac(x).toarray()
    np.testing.assert_allclose(np.diag(J), 3.0 - 4.0 * x, rtol=0, atol=1e-14)


def test_the_callers_precision_setting_is_left_alone(problem):
    f, x0 = problem
    before = jax.config.jax_enable_x64
    fun, jac = jsp.for_scipy(f, x0)
    fun(np.ones(40))
    jac(np.ones(40))
    assert jax.config.jax_enable_x64 == before
    assert jnp.ones(2).dtype == (jnp.float64 if before else jnp.float32)


def test_float64_false_computes_in_the_dtype_of_x0(problem):
    f, x0 = problem
    fun, jac = jsp.for_scipy(f, x0, float64=False)
    values = fun(np.linspace(-1.0, -0.5, 40) + 1e-9)
    assert values.dtype == np.float64 and np.array_equal(values.astype(np.float32), values)  # float32 values


def test_solve_ivp_functions_compute_in_float64():
    fun, jac = jsp.for_scipy(lambda t, y: t * y**2, jnp.ones(3), time=True)
    y = np.array([1.0 + 1e-9, 2.0, 3.0])
    np.testing.assert_allclose(fun(0.5, y), 0.5 * y**2, rtol=1e-15)
    np.testing.assert_allclose(jac(0.5, y).toarray(), np.diag(y), rtol=1e-15)
