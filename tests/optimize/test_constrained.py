"""The Lagrangian Hessian and constraint Jacobian of jacx.optimize.ConstrainedProblem, and the solver adapters."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx
from jacx.optimize import ConstrainedProblem, ipopt_available, minimize_ipopt, minimize_trust_constr
from jacx.optimize.problems import rocket

if os.environ.get("JACX_REQUIRE_IPOPT") == "1" and not ipopt_available():  # CI installs it: skipping would hide it
    raise RuntimeError("JACX_REQUIRE_IPOPT=1 but cyipopt is not importable; install the 'ipopt' extra")
needs_ipopt = pytest.mark.skipif(not ipopt_available(), reason="cyipopt (the 'ipopt' extra) is not installed")


def hs071_objective(x):
    return x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]


def hs071_constraints(x):
    return jnp.array([jnp.prod(x), jnp.sum(x ** 2)])


HS071 = {"x0": np.array([1.0, 5.0, 5.0, 1.0]), "cl": [25.0, 40.0], "cu": [np.inf, 40.0], "lb": 1.0, "ub": 5.0,
         "x": np.array([1.0, 4.74299963, 3.82114998, 1.37940829]), "f": 17.0140173}


def dense_lagrangian_hessian(f, c, x, y, sigma):
    with jax.enable_x64(True):
        L = lambda z: sigma * f(z) + jnp.dot(jnp.asarray(y), c(z))  # noqa: E731
        return np.asarray(jax.hessian(L)(jnp.asarray(x, jnp.float64)))


def test_hessian_and_jacobian_match_dense_references():
    prob = ConstrainedProblem(hs071_objective, hs071_constraints, HS071["x0"])
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, y, sigma = rng.uniform(1, 5, 4), rng.standard_normal(2), rng.uniform(0.1, 2)
        H = prob.hessian(x, y, sigma)
        want = dense_lagrangian_hessian(hs071_objective, hs071_constraints, x, y, sigma)
        np.testing.assert_allclose(H.toarray(), want, rtol=1e-12, atol=1e-12)
        assert H.dtype == np.float64 and (H != H.T).nnz == 0
        with jax.enable_x64(True):
            J = np.asarray(jax.jacfwd(hs071_constraints)(jnp.asarray(x)))
        np.testing.assert_allclose(prob.jacobian(x).toarray(), J, rtol=1e-13)
        # Ipopt's layout: values of the lower triangle and of the Jacobian in a fixed (row, column) order
        r, cidx = prob.hessian_lower_structure()
        assert np.all(r >= cidx)
        lower = np.zeros((4, 4))
        lower[r, cidx] = prob.hessian_lower_values(x, y, sigma)
        np.testing.assert_allclose(lower + np.tril(lower, -1).T, want, rtol=1e-12, atol=1e-12)
        jr, jc = prob.jacobian_structure()
        np.testing.assert_allclose(prob.jacobian_values(x), J[jr, jc], rtol=1e-13)


def test_rocket_derivatives_match_dense_and_finite_differences():
    P = rocket(12)
    prob = ConstrainedProblem(P.objective, P.constraints, P.x0)
    rng = np.random.default_rng(2)
    x = P.x0 + 0.1 * rng.standard_normal(P.n)
    y = rng.standard_normal(P.m)
    want = dense_lagrangian_hessian(P.objective, P.constraints, x, y, 0.7)
    np.testing.assert_allclose(prob.hessian(x, y, 0.7).toarray(), want, rtol=1e-11, atol=1e-11)
    # the gradient of y^T c + 0.7 f by central differences, against the Hessian's columns
    g = lambda z: prob.gradient(z) * 0.7 + prob.jacobian(z).T @ y  # noqa: E731
    h = 1e-6
    for j in rng.choice(P.n, 5, replace=False):
        e = np.zeros(P.n)
        e[j] = h
        np.testing.assert_allclose((g(x + e) - g(x - e)) / (2 * h), want[:, j], rtol=1e-5, atol=1e-6)
    assert prob.sparse_hessian.n_colors < 20 < P.n


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 8), m=st.integers(1, 4), shift=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_random_problems_lagrangian_hessian(n, m, shift, seed):
    """Random objectives and constraints: the Lagrangian's Hessian equals the dense one for random (x, y, sigma)."""

    def f(x):
        return jnp.sum(jnp.sin(x) * jnp.roll(x, shift)) + jnp.sum(x ** 4)

    def c(x):
        return jnp.stack([jnp.sum(jnp.exp(0.3 * (i + 1) * x[i % n:])) * x[(i * shift) % n] for i in range(m)])

    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1, 1, n)
    prob = ConstrainedProblem(f, c, x0)
    x, y, sigma = rng.uniform(-1, 1, n), rng.standard_normal(m), float(rng.uniform(0, 2))
    want = dense_lagrangian_hessian(f, c, x, y, sigma)
    H = prob.hessian(x, y, sigma)
    np.testing.assert_allclose(H.toarray(), want, rtol=1e-10, atol=1e-10)
    # the pattern holds every nonzero
    assert np.all(prob.sparse_hessian.sparsity.toarray()[np.abs(want) > 0])


def test_trust_constr_solves_hs071():
    prob = ConstrainedProblem(hs071_objective, hs071_constraints, HS071["x0"])
    res = minimize_trust_constr(prob, HS071["x0"], HS071["cl"], HS071["cu"], HS071["lb"], HS071["ub"], gtol=1e-10,
                                xtol=1e-12, maxiter=500)
    np.testing.assert_allclose(res.x, HS071["x"], rtol=2e-5)  # an interior point stops just inside x0 >= 1
    np.testing.assert_allclose(res.fun, HS071["f"], rtol=1e-6)
    assert res.constr_violation < 1e-9


@needs_ipopt
def test_ipopt_solves_hs071():
    prob = ConstrainedProblem(hs071_objective, hs071_constraints, HS071["x0"])
    res = minimize_ipopt(prob, HS071["x0"], HS071["cl"], HS071["cu"], HS071["lb"], HS071["ub"], tol=1e-10)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, HS071["x"], rtol=1e-6)
    assert prob.kkt_residual(res.x, res.y, res.z_upper - res.z_lower) < 1e-6  # Ipopt's tol is on scaled residuals


def test_minimize_ipopt_without_cyipopt_says_how(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cyipopt(name, *args, **kwargs):
        if name == "cyipopt":
            raise ImportError("no cyipopt")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cyipopt)
    prob = ConstrainedProblem(hs071_objective, hs071_constraints, HS071["x0"])
    with pytest.raises(jacx.JacxUsageError, match=r"coinor-libipopt-dev.*jacx\[ipopt\]"):
        minimize_ipopt(prob, HS071["x0"])


def test_usage_errors():
    with pytest.raises(jacx.JacxUsageError, match="expected a scalar"):
        ConstrainedProblem(lambda x: x, None, np.ones(3))
    with pytest.raises(jacx.JacxUsageError, match="1-D vector"):
        ConstrainedProblem(lambda x: jnp.sum(x), None, np.ones((2, 2)))
    with pytest.raises(jacx.JacxUsageError, match="as the objective"):
        ConstrainedProblem(3.0, None, np.ones(3))
    prob = ConstrainedProblem(hs071_objective, hs071_constraints, HS071["x0"])
    with pytest.raises(jacx.JacxUsageError, match=r"expected \(2,\)"):
        prob.hessian(HS071["x0"], np.ones(3))
    with pytest.raises(jacx.JacxUsageError, match=r"expected \(4,\)"):
        prob.jacobian(np.ones(5))


def test_unconstrained_problem():
    prob = ConstrainedProblem(lambda x: jnp.sum((x - 1.0) ** 4 + x ** 2), None, np.zeros(5))
    assert prob.m == 0
    res = so.minimize(x0=np.zeros(5), **jacx.optimize.trust_constr_arguments(prob))
    np.testing.assert_allclose(prob.gradient(res.x), 0.0, atol=1e-7)


# ----------------------------------------------------------------------------------- the optimal control example
def _example():
    path = Path(__file__).resolve().parents[2] / "examples" / "optimal_control.py"
    spec = importlib.util.spec_from_file_location("optimal_control_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_optimal_control_small_instance_is_optimal_and_agrees_with_finite_differences():
    ex = _example()
    P = rocket(6)  # 49 variables: SciPy's finite differences with BFGS need hundreds of iterations already
    prob = ConstrainedProblem(P.objective, P.constraints, P.x0)
    sparse = ex.solve(P, "sparse", "trust-constr", prepared=prob)
    assert sparse["success"] and sparse["violation"] < 1e-8 and sparse["kkt"] < 1e-6
    # the thrust limit is active somewhere: the inequalities matter
    thrust = np.hypot(*P.unpack(sparse["x"])["controls"].T)
    assert thrust.max() == pytest.approx(6.5, abs=1e-6)
    fd = ex.solve(P, "fd", "trust-constr", prepared=prob, max_iter=600)
    assert fd["violation"] < 1e-8 and fd["iterations"] > sparse["iterations"]
    np.testing.assert_allclose(fd["objective"], sparse["objective"], rtol=1e-5)
    np.testing.assert_allclose(fd["x"], sparse["x"], atol=2e-3)
    dense = ex.solve(P, "dense", "trust-constr", prepared=prob)
    np.testing.assert_allclose(dense["x"], sparse["x"], atol=1e-6)
    assert dense["iterations"] == sparse["iterations"]


@needs_ipopt
def test_optimal_control_ipopt_matches_trust_constr():
    ex = _example()
    P = rocket(40)
    prob = ConstrainedProblem(P.objective, P.constraints, P.x0)
    ip = ex.solve(P, "sparse", "ipopt", prepared=prob)
    tc = ex.solve(P, "sparse", "trust-constr", prepared=prob)
    assert ip["success"] and ip["violation"] < 1e-6 and ip["kkt"] < 1e-6
    np.testing.assert_allclose(ip["objective"], tc["objective"], rtol=1e-6)
    np.testing.assert_allclose(ip["x"], tc["x"], atol=1e-3)


# module state the problem's functions read: rebound between calls, as users write loops over parameters
_SCALE = jnp.ones(3)
_PARAMS = {"w": jnp.ones(3)}


def test_sees_a_rebound_global_and_a_dict_updated_in_place():
    global _SCALE
    f = lambda x: jnp.sum(_SCALE * x ** 2)  # noqa: E731
    c = lambda x: jnp.array([jnp.sum(_SCALE * x) - 1.0])  # noqa: E731
    prob = ConstrainedProblem(f, c, jnp.ones(3))
    x = np.array([1.0, 2.0, 3.0])
    before = (prob.objective(x), prob.gradient(x), prob.constraints(x), prob.hessian(x, [1.0]).toarray())
    np.testing.assert_allclose(before[0], 14.0)
    try:
        _SCALE = jnp.full(3, 3.0)
        np.testing.assert_allclose(prob.objective(x), 42.0)  # same x: the cached value must not be reused
        np.testing.assert_allclose(prob.gradient(x), 6.0 * x)
        np.testing.assert_allclose(prob.value_and_gradient(x)[0], 42.0)
        np.testing.assert_allclose(prob.constraints(x), [17.0])
        np.testing.assert_allclose(prob.jacobian(x).toarray(), [[3.0, 3.0, 3.0]])
        np.testing.assert_allclose(prob.hessian(x, [1.0]).toarray(), 6.0 * np.eye(3))
    finally:
        _SCALE = jnp.ones(3)

    g = ConstrainedProblem(lambda x: jnp.sum(_PARAMS["w"] * x ** 2), None, jnp.ones(3))
    try:  # a dict can change in place: jacx says it traces again on every call, and stays correct
        with pytest.warns(jacx.AutoJitWarning, match="reads state that can change"):
            for w in (1.0, 2.0, 5.0):
                _PARAMS["w"] = jnp.full(3, w)
                np.testing.assert_allclose(g.objective(x), 14.0 * w)
                np.testing.assert_allclose(g.gradient(x), 2.0 * w * x)
                np.testing.assert_allclose(g.hessian(x).toarray(), 2.0 * w * np.eye(3))
    finally:
        _PARAMS["w"] = jnp.ones(3)


def test_bad_inputs_get_one_line_usage_errors(monkeypatch):
    import sys
    import types

    with pytest.raises(jacx.JacxUsageError, match="expected a scalar of real floating point"):
        ConstrainedProblem(lambda x: jnp.sum(x) * 1j, None, np.ones(3))
    prob = ConstrainedProblem(hs071_objective, hs071_constraints, HS071["x0"])
    with pytest.raises(jacx.JacxUsageError, match="sigma of shape"):
        prob.hessian(HS071["x0"], np.ones(2), np.ones(4))
    with pytest.raises(jacx.JacxUsageError, match="expected a jacx.optimize.ConstrainedProblem"):
        jacx.optimize.trust_constr_arguments(hs071_objective)
    with pytest.raises(jacx.JacxUsageError, match=r"cl: received shape \(3,\); expected \(2,\)"):
        jacx.optimize.trust_constr_arguments(prob, cl=np.ones(3))
    fake = types.ModuleType("cyipopt")  # the adapter's own checks run before Ipopt is reached
    fake.Problem = lambda **kw: pytest.fail("Ipopt reached with bad input")
    monkeypatch.setitem(sys.modules, "cyipopt", fake)
    with pytest.raises(jacx.JacxUsageError, match=r"lb: received shape \(2,\); expected \(4,\)"):
        minimize_ipopt(prob, HS071["x0"], lb=np.ones(2))
    with pytest.raises(jacx.JacxUsageError, match=r"x0: received shape \(2,\); expected \(4,\)"):
        minimize_ipopt(prob, np.ones(2))


def test_numpy_args_changed_in_place_are_seen():
    w = np.array([1.0, 1.0, 1.0])
    prob = ConstrainedProblem(lambda x, w: jnp.sum(w * x**2), lambda x, w: jnp.array([jnp.sum(w * x) - 1.0]),
                              jnp.ones(3), args=(w,))
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(prob.objective(x), 14.0)
    w *= 3.0  # the same array object, new values: the value cached for this x must not be reused
    np.testing.assert_allclose(prob.objective(x), 42.0)
    np.testing.assert_allclose(prob.gradient(x), 6.0 * x)
    np.testing.assert_allclose(prob.constraints(x), [17.0])
    np.testing.assert_allclose(prob.jacobian(x).toarray(), [[3.0, 3.0, 3.0]])
    np.testing.assert_allclose(prob.hessian(x, [1.0]).toarray(), 6.0 * np.eye(3))
