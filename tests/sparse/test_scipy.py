"""SciPy integration: root / least_squares / solve_ivp with jacx sparse Jacobians."""

import jax.numpy as jnp
import numpy as np
import scipy.integrate
import scipy.optimize
from scipy.optimize._numdiff import approx_derivative

import jacx.sparse as js
from jacx.sparse.problems import broyden_tridiagonal, brusselator_2d


def test_least_squares_with_sparse_jac(x64):
    f, x0 = broyden_tridiagonal(200)
    x0 = jnp.asarray(x0, jnp.float64)
    fun, jac = js.for_scipy(f, x0)
    j0 = jac(np.asarray(x0))
    assert j0.format == "csr" and j0.shape == (200, 200)
    sol = scipy.optimize.least_squares(fun, np.asarray(x0), jac=jac, xtol=1e-14, ftol=1e-14, gtol=1e-14)
    assert np.max(np.abs(fun(sol.x))) < 1e-9
    # the Jacobian handed over equals central finite differences of fun
    fd = approx_derivative(fun, sol.x, method="3-point")
    np.testing.assert_allclose(jac(sol.x).toarray(), fd, atol=1e-6)


def test_root_with_dense_jac(x64):
    f, x0 = broyden_tridiagonal(30)
    fun, jac = js.for_scipy(f, jnp.asarray(x0, jnp.float64), dense=True)
    sol = scipy.optimize.root(fun, np.asarray(x0, np.float64), jac=jac, tol=1e-12)
    assert sol.success and np.max(np.abs(fun(sol.x))) < 1e-10


def test_solve_ivp_with_jac_and_sparsity(x64):
    f, y0 = brusselator_2d(8)
    rhs = lambda t, y: f(y)
    y0 = jnp.asarray(y0, jnp.float64)
    fun, jac = js.for_scipy(rhs, y0, time=True)
    sparsity = js.scipy_jac_sparsity(rhs, y0, time=True)
    assert sparsity.shape == (128, 128) and sparsity.nnz == 6 * 128
    j = jac(0.0, np.asarray(y0).ravel())
    assert (j != 0).nnz <= sparsity.nnz
    kw = {"method": "BDF", "rtol": 1e-8, "atol": 1e-10}
    with_jac = scipy.integrate.solve_ivp(fun, (0.0, 1.0), np.asarray(y0).ravel(), jac=jac, **kw)
    with_pattern = scipy.integrate.solve_ivp(fun, (0.0, 1.0), np.asarray(y0).ravel(), jac_sparsity=sparsity, **kw)
    assert with_jac.success and with_pattern.success
    np.testing.assert_allclose(with_jac.y[:, -1], with_pattern.y[:, -1], rtol=1e-5, atol=1e-7)
