"""jacx.implicit against closed forms, finite differences of the solve, and differentiation of unrolled iterations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx
from jacx._errors import JacxUsageError
from jacx.implicit import fixed_point, newton, root

A = jnp.array([[3.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 5.0]])


def F(x, theta):
    return A @ x + 0.1 * x**3 - theta


@pytest.mark.parametrize("linear_solve", ["dense", "matrix-free"])
def test_root_jacobian_closed_form_all_modes(x64, linear_solve):
    def solve(th):
        return root(F, jnp.zeros(3), th, linear_solve=linear_solve, tol=1e-12)

    theta = jnp.array([1.0, 2.0, 3.0])
    x = solve(theta)
    np.testing.assert_allclose(F(x, theta), 0.0, atol=1e-12)
    # IFT by hand: dx/dtheta = (A + diag(0.3 x^2))^-1
    expected = np.linalg.inv(np.asarray(A) + np.diag(0.3 * np.asarray(x) ** 2))
    transforms = [jax.jacrev(solve), jacx.jacobian(solve)]
    if linear_solve == "dense":  # forward mode and an outer jit, once (compiling GMRES for them is slow)
        transforms += [jax.jacfwd(solve), jax.jit(jax.jacrev(solve))]
    for J in (t(theta) for t in transforms):
        np.testing.assert_allclose(J, expected, atol=1e-10)


def test_root_matches_finite_differences_of_the_solve(x64):
    def G(x, p):  # parameters as a pytree: a scale and a vector
        return jnp.sin(x) + p["k"] * x - p["c"]

    p = {"k": 2.0, "c": jnp.array([0.3, -0.5, 1.1])}

    def loss(p):
        return jnp.sum(root(G, jnp.zeros(3), p, tol=1e-13) ** 2)

    g = jax.grad(loss)(p)
    h = 1e-6
    fd_k = (loss({**p, "k": p["k"] + h}) - loss({**p, "k": p["k"] - h})) / (2 * h)
    assert float(g["k"]) == pytest.approx(float(fd_k), rel=1e-6)
    for i in range(3):
        e = jnp.zeros(3).at[i].set(h)
        fd = (loss({**p, "c": p["c"] + e}) - loss({**p, "c": p["c"] - e})) / (2 * h)
        assert float(g["c"][i]) == pytest.approx(float(fd), rel=1e-6)


def _cube(x, a):
    return x**3 - a


def cube_root(a):
    return root(_cube, jnp.array([1.0]), a)[0]


@settings(max_examples=15, deadline=None)
@given(a=st.floats(0.2, 50.0))
def test_cube_root_derivative(a):
    assert float(cube_root(a)) == pytest.approx(a ** (1 / 3), rel=1e-5)
    assert float(jax.grad(cube_root)(a)) == pytest.approx(1 / (3 * a ** (2 / 3)), rel=1e-4)


def _deq_params(key, n=6):
    k1, k2 = jax.random.split(key)
    return {"W": 0.4 * jax.random.normal(k1, (n, n)) / jnp.sqrt(n), "b": 0.5 * jax.random.normal(k2, (n,))}


def _layer(z, p):
    return jnp.tanh(p["W"] @ z + p["b"])


@pytest.mark.parametrize("linear_solve", ["dense", "matrix-free"])
def test_deq_gradient_equals_unrolled_iterations(x64, linear_solve):
    p = _deq_params(jax.random.PRNGKey(0))
    target = jnp.linspace(-0.5, 0.5, 6)

    def implicit_loss(p):
        z = fixed_point(_layer, jnp.zeros(6), p, tol=1e-13, linear_solve=linear_solve)
        return jnp.sum((z - target) ** 2)

    def unrolled_loss(p):
        z = jax.lax.fori_loop(0, 300, lambda _, z: _layer(z, p), jnp.zeros(6))
        return jnp.sum((z - target) ** 2)

    assert float(implicit_loss(p)) == pytest.approx(float(unrolled_loss(p)), rel=1e-12)
    g_imp, g_unr = jax.grad(implicit_loss)(p), jax.grad(unrolled_loss)(p)
    np.testing.assert_allclose(g_imp["W"], g_unr["W"], atol=1e-10)
    np.testing.assert_allclose(g_imp["b"], g_unr["b"], atol=1e-10)


def test_fixed_point_linear_closed_form():
    # x = M x + theta  =>  x* = (I - M)^-1 theta and dx*/dtheta = (I - M)^-1
    M = jnp.array([[0.2, 0.1], [-0.3, 0.4]])
    sol = jax.jit(lambda th: fixed_point(lambda x, t: M @ x + t, jnp.zeros(2), th, tol=1e-7))
    expected = np.linalg.inv(np.eye(2) - np.asarray(M))
    np.testing.assert_allclose(sol(jnp.array([1.0, 2.0])), expected @ [1.0, 2.0], atol=1e-5)
    np.testing.assert_allclose(jacx.jacobian(sol)(jnp.array([1.0, 2.0])), expected, atol=1e-5)


def test_sparse_linear_solve_when_available(x64):
    import jacx.sparse

    if not hasattr(jacx.sparse, "jacobian"):
        with pytest.raises(JacxUsageError, match="jacx.sparse.jacobian"):
            root(F, jnp.zeros(3), jnp.ones(3), linear_solve="sparse")
        pytest.skip("jacx.sparse.jacobian is not available in this build: the sparse option reports so")
    n = 30
    # a tridiagonal nonlinear system: x_i^3 + 4 x_i - x_{i-1} - x_{i+1} = theta_i
    def G(x, th):
        left = jnp.concatenate([jnp.zeros(1), x[:-1]])
        right = jnp.concatenate([x[1:], jnp.zeros(1)])
        return x**3 + 4 * x - left - right - th

    th = jnp.linspace(-1, 1, n)
    dense = jax.jacrev(lambda t: root(G, jnp.zeros(n), t, tol=1e-12))(th)
    sparse = jax.jacrev(lambda t: root(G, jnp.zeros(n), t, tol=1e-12, linear_solve="sparse"))(th)
    np.testing.assert_allclose(sparse, dense, atol=1e-8)


def test_newton_and_usage_errors():
    x = newton(lambda x, a: jnp.array([x[0] ** 2 - a]), jnp.array([3.0]), 9.0)
    assert float(x[0]) == pytest.approx(3.0, rel=1e-6)
    with pytest.raises(JacxUsageError, match="linear_solve"):
        root(F, jnp.zeros(3), jnp.ones(3), linear_solve="lu")
    with pytest.raises(JacxUsageError, match="1-D float"):
        root(F, jnp.zeros((3, 1)), jnp.ones(3))


def test_closed_over_traced_values_are_differentiated_under_vmap(x64):
    # a DEQ layer that closes over its (vmapped, differentiated) input x instead of taking it in theta
    p = _deq_params(jax.random.PRNGKey(1), n=5)
    U = jnp.arange(15.0).reshape(5, 3) / 10
    xs = jnp.linspace(0.0, 1.0, 12).reshape(4, 3)

    def implicit(x):
        return jnp.sum(fixed_point(lambda z, p: jnp.tanh(p["W"] @ z + U @ x + p["b"]), jnp.zeros(5), p, tol=1e-13))

    def unrolled(x):
        return jnp.sum(jax.lax.fori_loop(0, 300, lambda _, z: jnp.tanh(p["W"] @ z + U @ x + p["b"]), jnp.zeros(5)))

    np.testing.assert_allclose(jax.vmap(implicit)(xs), jax.vmap(unrolled)(xs), atol=1e-12)
    np.testing.assert_allclose(jax.jacrev(jax.vmap(implicit))(xs), jax.jacrev(jax.vmap(unrolled))(xs), atol=1e-11)


def test_residual_shape_and_callable_errors():
    with pytest.raises(JacxUsageError, match=r"shaped like x, \(2,\); it returns shape\(s\) \(\)"):
        root(lambda x, a: jnp.sum(x**2) - a, jnp.ones(2), 2.0)
    with pytest.raises(JacxUsageError, match=r"returns shape\(s\) \(4,\)"):
        fixed_point(lambda x, a: jnp.concatenate([x, x]) * a, jnp.ones(2), 0.5)
    with pytest.raises(JacxUsageError, match="expects a function"):
        root(None, jnp.ones(2), 2.0)


def test_rebound_global_is_not_solved_with_old_values():
    global _SHIFT
    _SHIFT = 1.0
    F = lambda x, th: x**3 + x - th - _SHIFT
    np.testing.assert_allclose(root(F, jnp.zeros(1), jnp.ones(1)), [1.0], atol=1e-5)
    _SHIFT = 9.0  # now x^3 + x = 10, whose root is 2
    np.testing.assert_allclose(root(F, jnp.zeros(1), jnp.ones(1)), [2.0], atol=1e-5)
