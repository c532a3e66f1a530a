"""jacx.hessian and jacx.hvp against hand-derived Hessians, jax.hessian and finite differences of the gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx

MODES = ["auto", "forward-over-reverse", "reverse-over-reverse", "reverse-over-forward", "forward-over-forward"]


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    """By hand: d2/dxi2 and the off-diagonal -400 x_i of the chained Rosenbrock function."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        H[i + 1, i + 1] += 200.0
        H[i, i + 1] += -400.0 * x[i]
        H[i + 1, i] += -400.0 * x[i]
    return H


def fd_hessian(f, x, h=1e-6):
    """Central differences of the float64 gradient, column by column."""
    g = jax.grad(f)
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        cols.append((np.asarray(g(jnp.asarray(x + e))) - np.asarray(g(jnp.asarray(x - e)))) / (2 * h))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("mode", MODES)
def test_rosenbrock_matches_hand_derived(mode, x64):
    x = jnp.array([-1.2, 1.0, 0.5, 2.0, -0.3])
    H = jacx.hessian(rosenbrock, mode=mode)(x)
    assert H.shape == (5, 5) and H.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(H), rosenbrock_hessian(x), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtype_follows_input(dtype, x64):
    x = jnp.linspace(-1.0, 1.0, 6, dtype=dtype)
    H = jacx.hessian(rosenbrock)(x)
    assert H.dtype == dtype
    tol = 1e-4 if dtype == jnp.float32 else 1e-12
    np.testing.assert_allclose(np.asarray(H, np.float64), rosenbrock_hessian(x), rtol=tol, atol=tol * 100)


def test_against_finite_differences_of_the_gradient(x64):
    def f(x):
        return jnp.sum(jnp.sin(x) * jnp.roll(x, 1)) + jnp.log1p(jnp.sum(x ** 2)) * x[0]

    x = jnp.array([0.3, -0.7, 1.1, 0.2])
    H = np.asarray(jacx.hessian(f)(x))
    np.testing.assert_allclose(H, fd_hessian(f, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def pytree_f(params, x):
    w, b = params["w"], params["b"]
    return jnp.sum(jnp.tanh(w @ x + b) ** 2) + jnp.sum(b ** 3) * jnp.sum(x ** 2)


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0)])
@pytest.mark.parametrize("mode", ["auto", "reverse-over-reverse"])
def test_pytree_layout_matches_jax_hessian(argnums, mode):
    params = {"w": jnp.arange(6.0).reshape(2, 3) / 7.0, "b": jnp.array([0.1, -0.2])}
    x = jnp.array([0.5, -1.0, 0.25])
    got = jacx.hessian(pytree_f, argnums=argnums, mode=mode)(params, x)
    want = jax.hessian(pytree_f, argnums=argnums)(params, x)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_matrix_argument_blocks():
    f = lambda X: jnp.sum(X @ X)  # noqa: E731  d2/dXij dXkl: trace-like, shape (2, 2, 2, 2)
    X = jnp.arange(4.0).reshape(2, 2)
    H = jacx.hessian(f)(X)
    assert H.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(H, jax.hessian(f)(X), rtol=1e-6)


def test_has_aux_and_kwargs():
    def f(x, scale=1.0):
        return scale * jnp.sum(x ** 3), {"norm": jnp.linalg.norm(x)}

    x = jnp.array([1.0, 2.0])
    H, aux = jacx.hessian(f, has_aux=True)(x, scale=2.0)
    np.testing.assert_allclose(H, np.diag([12.0, 24.0]))
    np.testing.assert_allclose(aux["norm"], np.sqrt(5.0), rtol=1e-6)


def test_chunked_equals_unchunked(x64):
    x = jnp.linspace(-1.0, 1.0, 17)
    full = jacx.hessian(rosenbrock)(x)
    for chunk in (1, 4, 16):
        np.testing.assert_allclose(jacx.hessian(rosenbrock, chunk_size=chunk)(x), full, rtol=1e-13)


def test_memory_guard_chunks_or_refuses(monkeypatch):
    f = lambda x: jnp.sum(jnp.sin(x) ** 3)  # noqa: E731
    monkeypatch.setenv("JACX_MEMORY_LIMIT_BYTES", "1MB")
    with pytest.raises(jacx.JacobianTooLargeError, match=r"jacx\.hessian: The dense Hessian is 2000 x 2000.*hvp"):
        jacx.hessian(f)(jnp.ones(2000))
    # 1000 x 1000 float32 (4 MB) fits in 40 MB with a chunk that the guard picks; the values are unchanged
    monkeypatch.setenv("JACX_MEMORY_LIMIT_BYTES", "40MB")
    x = jnp.linspace(0.0, 1.0, 1000)
    H = jacx.hessian(f)(x)
    monkeypatch.delenv("JACX_MEMORY_LIMIT_BYTES")
    np.testing.assert_allclose(np.diag(np.asarray(H)), np.asarray(jax.vmap(jax.grad(jax.grad(
        lambda t: jnp.sin(t) ** 3)))(x)), rtol=1e-4, atol=1e-5)


def test_inside_jit_and_vmap():
    x = jnp.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]])
    got = jax.jit(jax.vmap(jacx.hessian(rosenbrock)))(x)
    want = jax.vmap(jax.hessian(rosenbrock))(x)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_errors_say_what_and_how():
    with pytest.raises(jacx.NotScalarOutputError, match=r"one real scalar output.*shape \(2,\)"):
        jacx.hessian(lambda x: x ** 2)(jnp.ones(2))
    with pytest.raises(jacx.JacxUsageError, match="mode must be one of"):
        jacx.hessian(rosenbrock, mode="forward")
    with pytest.raises(jacx.JacxUsageError, match="expects a function"):
        jacx.hessian(rosenbrock(jnp.ones(3)))
    with pytest.raises(jacx.JacxUsageError, match="chunk_size"):
        jacx.hessian(rosenbrock, chunk_size=0)
    with pytest.raises(jacx.JacxUsageError, match="integer or boolean"):
        jacx.hessian(lambda x: jnp.sum(x))(jnp.arange(3))


def test_memoised():
    assert jacx.hessian(rosenbrock) is jacx.hessian(rosenbrock)
    assert jacx.hessian(rosenbrock) is not jacx.hessian(rosenbrock, mode="reverse-over-reverse")


def test_sees_rebound_state():
    w = jnp.array(1.0)

    def f(x):
        return w * jnp.sum(x ** 2)

    h = jacx.hessian(f)
    np.testing.assert_allclose(h(jnp.ones(2)), 2.0 * np.eye(2))
    w = jnp.array(3.0)  # noqa: F841  read by f
    np.testing.assert_allclose(h(jnp.ones(2)), 6.0 * np.eye(2))


# ------------------------------------------------------------------------------------------------------ hvp
def test_hvp_matches_hessian_times_vector(x64):
    x = jnp.array([-1.2, 1.0, 0.5, 2.0])
    v = jnp.array([0.3, -1.0, 2.0, 0.1])
    want = rosenbrock_hessian(x) @ np.asarray(v)
    np.testing.assert_allclose(jacx.hvp(rosenbrock, x, v), want, rtol=1e-12)
    Hv = jacx.hvp(rosenbrock, x)
    np.testing.assert_allclose(Hv(v), want, rtol=1e-12)
    np.testing.assert_allclose(Hv(2.0 * v), 2.0 * want, rtol=1e-12)


def test_hvp_pytree_and_args():
    params = {"w": jnp.arange(6.0).reshape(2, 3) / 7.0, "b": jnp.array([0.1, -0.2])}
    x = jnp.array([0.5, -1.0, 0.25])
    v = jax.tree_util.tree_map(lambda a: jnp.cos(a + 1.0), params)
    got = jacx.hvp(pytree_f, params, v, args=(x,))
    flat_v, unravel = jax.flatten_util.ravel_pytree(v)
    flat_p, unravel_p = jax.flatten_util.ravel_pytree(params)
    H = jax.hessian(lambda p: pytree_f(unravel_p(p), x))(flat_p)
    want = unravel(H @ flat_v)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_hvp_errors():
    with pytest.raises(jacx.JacxUsageError, match="v must have x's shapes"):
        jacx.hvp(rosenbrock, jnp.ones(3), jnp.ones(4))
    with pytest.raises(jacx.JacxUsageError, match="structure of x"):
        jacx.hvp(rosenbrock, jnp.ones(3), (jnp.ones(3),))
    with pytest.raises(jacx.NotScalarOutputError, match="jacx.hvp"):
        jacx.hvp(lambda x: x, jnp.ones(3), jnp.ones(3))
    with pytest.raises(jacx.JacxUsageError, match="integer or boolean dtype"):  # x, not f's output, is the fault
        jacx.hvp(rosenbrock, jnp.arange(3), jnp.arange(3))
    with pytest.raises(jacx.JacxUsageError, match="args must be a tuple"):
        jacx.hvp(lambda x, a: jnp.sum(a * x), jnp.ones(3), jnp.ones(3), args=jnp.ones(3))
    with pytest.raises(jacx.JacxUsageError, match="v must have x's shapes"):  # the prepared map too
        jacx.hvp(rosenbrock, jnp.ones(3))(jnp.ones(4))


# ------------------------------------------------------------------------------------------------ properties
_UNARY = (jnp.sin, jnp.tanh, jnp.exp, lambda t: t ** 3, lambda t: jnp.log1p(t ** 2))


@settings(max_examples=25, deadline=None)
@given(
    ops=st.lists(st.integers(0, len(_UNARY) - 1), min_size=1, max_size=4),
    shift=st.integers(1, 4),
    n=st.integers(2, 7),
    seed=st.integers(0, 2**16),
)
def test_random_compositions_match_jax_hessian(ops, shift, n, seed):
    """Random chains of smooth maps with couplings: symmetric, and equal to jax.hessian (float64)."""
    ops = tuple(ops)  # f reads ops and _UNARY: tuples cannot change in place, so jacx compiles f once

    def f(x):
        y = x
        for k in ops:
            y = _UNARY[k](y) * 0.5 + jnp.roll(y, shift) * x
        return jnp.sum(y) + jnp.sum(x[: n // 2]) * jnp.sum(y[n // 2:])

    with jax.enable_x64(True):
        x = jnp.asarray(np.random.default_rng(seed).uniform(-0.8, 0.8, n))
        H = np.asarray(jacx.hessian(f)(x))
        want = np.asarray(jax.hessian(f)(x))
    np.testing.assert_allclose(H, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-10)

