"""Dense Jacobians against hand-derived formulas, jax.jacfwd/jacrev layouts and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacx

MODES = ["auto", "forward", "reverse"]
CHUNKS = [None, 1, 2, 5]


def tutorial_F(v):
    x, y = v
    return jnp.array([x**2 + y, x * y])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk_size", CHUNKS)
def test_tutorial_values(mode, chunk_size):
    J = jacx.jacobian(tutorial_F, mode=mode, chunk_size=chunk_size)
    np.testing.assert_array_equal(J(jnp.array([1.0, 2.0])), [[2.0, 1.0], [2.0, 1.0]])
    np.testing.assert_array_equal(J(jnp.array([0.0, 1.0])), [[0.0, 1.0], [1.0, 0.0]])
    x, y = 0.3, -1.7  # J = [[2x, 1], [y, x]]
    np.testing.assert_allclose(J(jnp.array([x, y])), [[2 * x, 1.0], [y, x]], rtol=1e-6)


def tree_close(a, b, rtol=1e-5, atol=1e-6):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert u.shape == v.shape and u.dtype == v.dtype, (u.shape, v.shape, u.dtype, v.dtype)
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)


def pytree_f(d, w):
    return {"a": jnp.sin(d["x"]) * d["y"][0] * w, "b": (jnp.outer(d["x"], d["y"]), jnp.sum(d["x"] ** 3))}


PYTREE_ARGS = ({"x": jnp.arange(3.0) + 0.5, "y": jnp.array([1.5, -2.0])}, jnp.array(0.7))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1,)])
def test_layout_matches_jax(mode, chunk_size, argnums):
    ours = jacx.jacobian(pytree_f, argnums=argnums, mode=mode, chunk_size=chunk_size)(*PYTREE_ARGS)
    tree_close(ours, jax.jacfwd(pytree_f, argnums=argnums)(*PYTREE_ARGS))
    tree_close(ours, jax.jacrev(pytree_f, argnums=argnums)(*PYTREE_ARGS))


def test_argnums_list_and_negative():
    ours = jacx.jacobian(pytree_f, argnums=[-1])(*PYTREE_ARGS)
    tree_close(ours, jax.jacfwd(pytree_f, argnums=(1,))(*PYTREE_ARGS))


def test_matrix_shapes_and_scalars():
    A = jnp.arange(12.0).reshape(3, 4)
    J = jacx.jacobian(lambda X: (A * X).sum(axis=0))(jnp.ones((3, 4)))
    assert J.shape == (4, 3, 4)
    tree_close(J, jax.jacfwd(lambda X: (A * X).sum(axis=0))(jnp.ones((3, 4))))
    # scalar in, scalar out
    assert float(jacx.jacobian(lambda t: t**3)(2.0)) == 12.0


@pytest.mark.parametrize("mode", MODES)
def test_has_aux(mode):
    def f(x):
        return x**2, {"norm": jnp.linalg.norm(x)}

    J, aux = jacx.jacobian(f, mode=mode, has_aux=True)(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(J, jnp.diag(jnp.array([2.0, 4.0])))
    np.testing.assert_allclose(aux["norm"], jnp.sqrt(5.0))


def test_auto_mode_picks_by_cost_rule():
    # the compiled program of forward mode pushes n tangents: look at the batch size in the jaxpr
    wide = lambda x: jnp.sum(jnp.tanh(x)) * jnp.ones(2)  # n = 50 inputs, m = 2 outputs: reverse
    tall = lambda x: jnp.tanh(jnp.outer(x, jnp.ones(25))).ravel()  # n = 2, m = 50: forward
    jw = str(jax.make_jaxpr(jacx.jacobian(wide, jit=False))(jnp.ones(50)))
    jt = str(jax.make_jaxpr(jacx.jacobian(tall, jit=False))(jnp.ones(2)))
    assert "transpose" in jw or "mul" in jw  # a VJP was built
    # reverse mode batches over the m = 2 outputs, forward mode over the n = 2 inputs: both batch 2
    assert "f32[2,50]" in jw  # 2 rows (VJPs) of 50 entries each
    assert "f32[2,50]" in jt  # 2 columns (JVPs) of 50 entries each


def test_jit_and_vmap_compose():
    J = jacx.jacobian(tutorial_F)
    xs = jnp.array([[1.0, 2.0], [0.0, 1.0], [3.0, -1.0]])
    batched = jax.vmap(J)(xs)
    for x, Jx in zip(xs, batched):
        np.testing.assert_allclose(Jx, [[2 * x[0], 1.0], [x[1], x[0]]])
    np.testing.assert_allclose(jax.jit(J)(xs[0]), [[2.0, 1.0], [2.0, 1.0]])
    np.testing.assert_allclose(jax.jit(jax.vmap(jacx.jacobian(tutorial_F, mode="reverse", chunk_size=1)))(xs), batched)
    # second derivatives: the Jacobian of the Jacobian (Hessian of each output)
    H = jacx.jacobian(jacx.jacobian(tutorial_F))(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(H[0], [[2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(H[1], [[0.0, 1.0], [1.0, 0.0]])


def test_float64_inputs():
    with jax.enable_x64(True):
        x = jnp.array([0.1, 0.2], dtype=jnp.float64)
        J = jacx.jacobian(lambda v: jnp.exp(v) * v[::-1])(x)
        assert J.dtype == jnp.float64
        expected = np.array([[np.exp(0.1) * 0.2, np.exp(0.1)], [np.exp(0.2), np.exp(0.2) * 0.1]])
        np.testing.assert_allclose(J, expected, rtol=1e-14)


def test_linear_map_has_constant_jacobian():
    A = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    for x in (jnp.zeros(3), jnp.array([5.0, -1.0, 2.0])):
        for mode in MODES:
            np.testing.assert_array_equal(jacx.jacobian(lambda v: A @ v, mode=mode)(x), A)


def test_gradient_is_the_m_equals_1_jacobian():
    f = lambda v: jnp.sum(v**2) + v[0] * v[1]
    x = jnp.array([1.0, 2.0, 3.0])
    g = jacx.gradient(f)(x)
    np.testing.assert_allclose(g, [2 + 2.0, 4 + 1.0, 6.0])
    np.testing.assert_allclose(jacx.jacobian(f)(x), g)
    g0, g1 = jacx.gradient(lambda a, b: jnp.sum(a * b), argnums=(0, 1))(x, 2 * x)
    np.testing.assert_allclose(g0, 2 * x)
    np.testing.assert_allclose(g1, x)


def test_jvp_vjp_are_jax():
    assert jacx.jvp is jax.jvp and jacx.vjp is jax.vjp


def test_jacobian_matrix_flattens():
    f = lambda d: {"u": d["a"] * 2.0, "v": jnp.sum(d["b"]) * jnp.ones(2)}
    x = {"a": jnp.ones((2, 2)), "b": jnp.arange(3.0)}
    J = jacx.jacobian_matrix(f)(x)
    assert J.shape == (6, 7)
    flat_x, unravel = jax.flatten_util.ravel_pytree(x)
    ref = jax.jacfwd(lambda z: jax.flatten_util.ravel_pytree(f(unravel(z)))[0])(flat_x)
    np.testing.assert_array_equal(J, ref)


def test_cache_sees_rebound_globals_and_closures():
    scale = [2.0]

    def make(s):
        return lambda x: s * x

    f = make(jnp.float32(3.0))
    np.testing.assert_allclose(jacx.jacobian(f)(jnp.ones(2)), 3.0 * jnp.eye(2))
    g = make(jnp.float32(5.0))  # same code, other closure: must not reuse the compiled 3.0
    np.testing.assert_allclose(jacx.jacobian(g)(jnp.ones(2)), 5.0 * jnp.eye(2))
    global _W
    _W = jnp.float32(2.0)
    h = lambda x: _W * x
    np.testing.assert_allclose(jacx.jacobian(h)(jnp.ones(2)), 2.0 * jnp.eye(2))
    _W = jnp.float32(7.0)  # rebinding a global read by h: recompiled, not stale
    np.testing.assert_allclose(jacx.jacobian(h)(jnp.ones(2)), 7.0 * jnp.eye(2))
    assert scale == [2.0]


def test_python_control_flow_falls_back_with_one_warning():
    def f(x):
        if x[0] > 0:  # not traceable under jit
            return x**2
        return -x

    jacx.clear_cache()
    with pytest.warns(jacx.JacxWarning, match="cannot be compiled with jax.jit"):
        J = jacx.jacobian(f)(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(J, [[2.0, 0.0], [0.0, 4.0]])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call is silent
        np.testing.assert_allclose(jacx.jacobian(f)(jnp.array([-1.0, 2.0])), -jnp.eye(2))


def test_lambda_made_in_a_loop_shares_one_program():
    # each lambda captures another number: the numbers are arguments of one compiled program, not new programs
    jacx.clear_cache()
    for t in range(12):
        J = jacx.jacobian(lambda x: t * x)(jnp.ones(2))
        np.testing.assert_allclose(J, t * jnp.eye(2))
    from jacx import _autojit

    assert len(_autojit._programs) == 1


def test_non_array_arguments_run_eagerly_and_say_so():
    f = lambda x, name: x * (2.0 if name == "double" else 1.0)
    with pytest.warns(jacx.JacxWarning, match="str argument, which is not an array"):
        np.testing.assert_allclose(jacx.jacobian(f)(jnp.ones(2), "double"), 2.0 * jnp.eye(2))


def test_many_options_on_one_function_all_stay_compiled():
    # options and input layouts are separate programs, not re-created closures: none may switch f to eager mode
    from jacx import _autojit

    jacx.clear_cache()
    x = jnp.array([1.0, 2.0])
    for mode in MODES:
        for chunk_size in CHUNKS:
            np.testing.assert_allclose(jacx.jacobian(tutorial_F, mode=mode, chunk_size=chunk_size)(x), [[2, 1], [2, 1]])
    for n in (2, 3, 4, 5, 6):
        assert jacx.jacobian_matrix(lambda v: v * 2.0)(jnp.ones(n)).shape == (n, n)
    assert len(_autojit._programs) >= len(MODES) * len(CHUNKS)
