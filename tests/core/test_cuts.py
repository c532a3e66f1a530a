"""Jacobians through narrow cuts: the planner on hand-made chains, equality with jax.jacfwd on programs with and
without bottlenecks (also random ones), layouts, pytrees, jit, vmap, has_aux, the cache, and the fallbacks."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx
from jacx import _cut_plan, _cuts
from jacx._cuts import CostModel, analyse, plan_chain, piece_modes

FLAT = CostModel(1e-9, 1e-9, 0.0)  # a fixed cost model: plans independent of this machine's speed


def tree_close(a, b, rtol=1e-5, atol=1e-6):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert u.shape == v.shape and u.dtype == v.dtype, (u.shape, v.shape, u.dtype, v.dtype)
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)


def mlp(dims, seed=0, acts=None, dtype=jnp.float32):
    rng = np.random.default_rng(seed)
    Ws = tuple(jnp.asarray(rng.standard_normal((b, a)) / np.sqrt(a), dtype) for a, b in zip(dims[:-1], dims[1:]))
    bs = tuple(jnp.asarray(0.1 * rng.standard_normal(b), dtype) for b in dims[1:])
    acts = tuple(acts or [jnp.tanh] * (len(Ws) - 1))

    def f(x):
        h = x
        for i, (W, b) in enumerate(zip(Ws, bs)):
            h = W @ h + b
            if i < len(Ws) - 1:
                h = acts[i](h)
        return h

    return f


AUTOENCODER = [60, 40, 3, 40, 60]


# ------------------------------------------------------------------------------------------------ the planner
def test_matrix_chain_order_matters():
    # J_3 J_2 J_1 with shapes 10x30, 30x5, 5x60: (J_3 J_2) J_1 costs 4500 multiplications, J_3 (J_2 J_1) 27000
    widths = [60, 5, 30, 10]

    def direct(i, j, seeds, reverse):  # each factor is given (cost 0); passes through several pieces are dear
        return 0.0 if i == j and not reverse and seeds == widths[i - 1] else 1e9

    cost, tree = plan_chain(widths, direct, lambda a, b, c: a * b * c)
    assert cost == 4500.0
    assert tree == ("product", ("forward", 1, 1), ("product", ("forward", 2, 2), ("forward", 3, 3)))
    # the mirror chain: shapes 20x100, 100x10, 10x5 (widths 5, 10, 100, 20): J_3 (J_2 J_1) is 5000 + 10000,
    # (J_3 J_2) J_1 would be 20000 + 1000
    widths = [5, 10, 100, 20]
    cost, tree = plan_chain(widths, direct, lambda a, b, c: a * b * c)
    assert cost == 100 * 10 * 5 + 20 * 100 * 5
    assert tree == ("product", ("product", ("forward", 1, 1), ("forward", 2, 2)), ("forward", 3, 3))


def test_bottleneck_is_reverse_then_forward():
    # 1000 -> 8 -> 1000 with unit work per seed and piece: 8 + 8 seeds and one product beat 1000 seeds
    cost, tree = plan_chain([1000, 8, 1000], lambda i, j, r, rev: r * (j - i + 1) * 100.0,
                            lambda a, b, c: 2.0 * a * b * c / 1000)
    assert tree == ("product", ("reverse", 1, 1), ("forward", 2, 2))
    assert cost == pytest.approx(800 + 800 + 16000)
    assert piece_modes(tree) == {1: "reverse", 2: "forward"}


def test_no_bottleneck_is_one_block():
    # widths never below the ends: one forward block (fewest seeds) is best
    cost, tree = plan_chain([10, 50, 40, 20], lambda i, j, r, rev: r * (j - i + 1), lambda a, b, c: 1e9)
    assert tree == ("forward", 1, 3) and cost == 30


def test_push_and_pull():
    # a wide middle piece that is cheap to pass through: push the narrow Jacobian of piece 1 through pieces 2-3
    widths = [4, 2, 100, 50]
    cost, tree = plan_chain(widths, lambda i, j, r, rev: r * (j - i + 1) * (1e6 if i == 1 and j > 1 else 1.0),
                            lambda a, b, c: 1e9)
    assert tree[0] in ("push", "forward")
    assert piece_modes(tree)[2] == "forward"


def test_plan_chain_refuses_empty():
    with pytest.raises(ValueError, match="at least one piece"):
        plan_chain([5], lambda *a: 0.0, lambda *a: 0.0)


def test_analyse_finds_the_bottleneck():
    f = mlp([50, 30, 4, 30, 50])
    plan = analyse(f, [jnp.ones(50)], model=FLAT)
    assert 4 in plan.widths and plan.widths[0] == 50 and plan.widths[-1] == 50
    assert plan.use and plan.saving > 2
    text = str(plan)
    assert "cuts (entries)" in text and "uses this plan" in text


def test_constants_do_not_widen_cuts():
    # a large weight (input-independent) computed in the middle travels as a plain value
    W = jnp.ones((3, 40))

    def f(x):
        h = jnp.tanh(W @ x)
        V = jnp.sin(W.T)  # input-independent, computed after the cut
        return V @ h

    plan = analyse(f, [jnp.ones(40)], model=FLAT)
    assert min(plan.widths) == 3


# ------------------------------------------------------------------------------------------------ correctness
@pytest.mark.parametrize("mode", ["cut", "auto"])
def test_autoencoder_equals_jacfwd(mode):
    f = mlp(AUTOENCODER)
    x = jnp.linspace(-1, 1, 60)
    tree_close(jacx.jacobian(f, mode=mode)(x), jax.jacfwd(f)(x))


def test_auto_uses_the_plan_for_a_bottleneck():
    f = mlp([200, 100, 4, 100, 200])
    plan = jacx.explain(f, jnp.ones(200))
    assert plan.use, str(plan)
    assert plan.saving >= 2


@pytest.mark.parametrize("n, m", [(40, 40), (60, 5), (5, 60)])
def test_auto_without_a_plan_is_todays_program(n, m):
    """No narrow cut (hidden width 32 is not below min(n, m) / 2 enough to pay): mode="auto" traces to exactly
    the program of the mode it picked before plans existed, so it cannot be slower."""
    f = mlp([n, 32, m])
    x = jnp.linspace(-1, 1, n)
    before = "forward" if n <= m else "reverse"
    assert not jacx.explain(f, x).use
    auto = str(jax.make_jaxpr(jacx.jacobian(f))(x))
    assert auto == str(jax.make_jaxpr(jacx.jacobian(f, mode=before))(x))


def test_float64(x64):
    f = mlp(AUTOENCODER, dtype=jnp.float64)
    x = jnp.linspace(-1, 1, 60, dtype=jnp.float64)
    tree_close(jacx.jacobian(f, mode="cut")(x), jax.jacfwd(f)(x), rtol=1e-12, atol=1e-13)


def test_under_jit_and_vmap():
    f = mlp(AUTOENCODER)
    xs = jnp.stack([jnp.linspace(-1, 1, 60), jnp.linspace(0, 2, 60)])
    J = jacx.jacobian(f, mode="cut")
    tree_close(jax.jit(J)(xs[0]), jax.jacfwd(f)(xs[0]))
    tree_close(jax.vmap(J)(xs), jax.vmap(jax.jacfwd(f))(xs))
    tree_close(jax.jit(jax.vmap(J))(xs), jax.vmap(jax.jacfwd(f))(xs))


def test_pytrees_argnums_and_shapes():
    rng = np.random.default_rng(1)
    A = jnp.asarray(rng.standard_normal((2, 24)), jnp.float32)
    B = jnp.asarray(rng.standard_normal((30, 2)), jnp.float32)

    def f(d, s):  # inputs: a dict of a matrix and a vector, outputs: a dict of a matrix and a tuple
        z = jnp.tanh(A @ jnp.concatenate([d["a"].ravel(), d["b"]]) * s)
        out = jnp.sin(B @ z)
        return {"img": out[:20].reshape(4, 5), "rest": (out[20:], jnp.sum(out))}

    d = {"a": jnp.linspace(0, 1, 16).reshape(4, 4), "b": jnp.linspace(-1, 1, 8)}
    s = jnp.float32(0.7)
    for argnums in (0, (0, 1)):
        got = jacx.jacobian(f, argnums, mode="cut")(d, s)
        tree_close(got, jax.jacfwd(f, argnums)(d, s))


def test_nested_jacobians():
    """A Jacobian of a planned Jacobian (second derivatives through the linearized pieces) equals jacfwd(jacfwd)."""
    f = mlp([12, 8, 2, 8, 12])
    x = jnp.linspace(-1, 1, 12)
    inner = jacx.jacobian(f, mode="cut")
    got = jacx.jacobian(lambda v: inner(v)[3], mode="cut")(x)
    np.testing.assert_allclose(got, jax.jacfwd(jax.jacfwd(f))(x)[3], rtol=1e-4, atol=1e-5)
    got = jax.jacrev(lambda v: inner(v)[3])(x)
    np.testing.assert_allclose(got, jax.jacfwd(jax.jacfwd(f))(x)[3], rtol=1e-4, atol=1e-5)


def test_jacobian_matrix_and_grad_through_the_plan():
    f = mlp(AUTOENCODER)
    x = jnp.linspace(-1, 1, 60)
    tree_close(jacx.jacobian_matrix(f, mode="cut")(x), jax.jacfwd(f)(x))
    loss = lambda v: jnp.sum(jacx.jacobian(f, mode="cut")(v) ** 2)  # noqa: E731
    np.testing.assert_allclose(jax.grad(loss)(x), jax.grad(lambda v: jnp.sum(jax.jacfwd(f)(v) ** 2))(x),
                               rtol=1e-4, atol=1e-5)


def test_has_aux():
    f0 = mlp(AUTOENCODER)

    def f(x):
        return f0(x), {"norm": jnp.sum(x ** 2)}

    x = jnp.linspace(-1, 1, 60)
    J, aux = jacx.jacobian(f, mode="cut", has_aux=True)(x)
    Jr, auxr = jax.jacfwd(f, has_aux=True)(x)
    tree_close(J, Jr)
    tree_close(aux, auxr)


def test_skip_connections_integer_values_and_literal_outputs():
    rng = np.random.default_rng(2)
    A = jnp.asarray(rng.standard_normal((3, 40)), jnp.float32)
    B = jnp.asarray(rng.standard_normal((40, 3)), jnp.float32)

    def f(x):
        z = jnp.tanh(A @ x)
        k = jnp.argmax(z)  # an integer that depends on the input: carried as a plain value
        z = z + 0.5 * jnp.sin(z) * (k + 1)  # a residual inside the narrow part
        y = jnp.cos(B @ z) + z[k]
        return y, jnp.float32(3.0) * jnp.ones(2)  # the second output does not depend on x

    x = jnp.linspace(-1, 1, 40)
    tree_close(jacx.jacobian(f, mode="cut")(x), jax.jacfwd(f)(x))


def test_wrong_answer_is_detected(monkeypatch):
    # the tests compare with jax.jacfwd closely enough to catch a plan that drops a piece's contribution
    f = mlp(AUTOENCODER)
    x = jnp.linspace(-1, 1, 60)
    real = _cut_plan._matrix
    monkeypatch.setattr(_cut_plan, "_matrix", lambda *a: real(*a) * 1.001)
    jacx.clear_caches()
    with pytest.raises(AssertionError):
        tree_close(jacx.jacobian(f, mode="cut")(x), jax.jacfwd(f)(x))
    monkeypatch.undo()
    jacx.clear_caches()


def test_cache_sees_changed_weights():
    rng = np.random.default_rng(3)
    state = {"W": jnp.asarray(rng.standard_normal((3, 30)), jnp.float32)}
    V = jnp.asarray(rng.standard_normal((30, 3)), jnp.float32)

    def f(x):
        return jnp.tanh(V @ jnp.tanh(state["W"] @ x))

    J = jacx.jacobian(f, mode="cut")
    x = jnp.linspace(-1, 1, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree_close(J(x), jax.jacfwd(f)(x))
        state["W"] = 2.0 * state["W"]
        tree_close(J(x), jax.jacfwd(f)(x))


# ------------------------------------------------------------------------------------------------ fallbacks
def _loop(x):
    W = jnp.ones((2, x.size)) / x.size
    z = jax.lax.fori_loop(0, 3, lambda i, h: jnp.sin(h), W @ x)
    return jnp.ones((x.size, 2)) @ z


@jax.custom_vjp
def _cv(x):
    return jnp.sin(x)


_cv.defvjp(lambda x: (jnp.sin(x), jnp.cos(x)), lambda c, g: (c * g,))


def _cond(x):
    W = jnp.ones((2, x.size))
    return jnp.ones((x.size, 2)) @ jax.lax.cond(x[0] > 0, jnp.sin, jnp.cos, W @ x)


def _print(x):
    jax.debug.print("{}", x[0])
    return x * 2


@pytest.mark.parametrize("f, why", [(_loop, "loop"), (_cond, "conditional"), (_print, "side effects")])
def test_fallback_on_programs_not_understood(f, why):
    x = jnp.linspace(0.1, 1, 20)
    plan = jacx.explain(f, x)
    assert plan.tree is None and why in plan.reason and why in str(plan)
    with pytest.warns(UserWarning, match="no plan"):
        got = jacx.jacobian(f, mode="cut")(x)
    tree_close(got, jax.jacfwd(f)(x))
    tree_close(jacx.jacobian(f)(x), jax.jacfwd(f)(x))


def test_fallback_on_custom_vjp():
    x = jnp.linspace(0.1, 1, 20)
    f = lambda v: _cv(v)[:5]  # noqa: E731  (fewer outputs than inputs: reverse mode, which custom_vjp allows)
    assert "custom_vjp" in jacx.explain(f, x).reason
    with pytest.warns(UserWarning, match="custom_vjp"):
        tree_close(jacx.jacobian(f, mode="cut")(x), jax.jacrev(f)(x))


def test_custom_jvp_is_understood():
    f = mlp(AUTOENCODER, acts=[jax.nn.relu, jnp.tanh, jax.nn.relu])
    x = jnp.linspace(-1, 1, 60)
    assert jacx.explain(f, x).tree is not None
    tree_close(jacx.jacobian(f, mode="cut")(x), jax.jacfwd(f)(x))


def test_python_control_flow_on_values_without_jit():
    W = jnp.ones((2, 10)) / 10

    def f(x):
        if x[0] > 0:  # needs a concrete value: jit=False evaluates eagerly
            return jnp.ones((10, 2)) @ jnp.sin(W @ x)
        return x

    x = jnp.linspace(0.1, 1, 10)
    tree_close(jacx.jacobian(f, jit=False)(x), jax.jacfwd(f)(x))
    with pytest.warns(UserWarning, match="cannot be traced without values"):
        tree_close(jacx.jacobian(f, jit=False, mode="cut")(x), jax.jacfwd(f)(x))


def test_cut_with_chunks_falls_back_with_a_warning():
    f = mlp(AUTOENCODER)
    x = jnp.linspace(-1, 1, 60)
    with pytest.warns(UserWarning, match="chunks"):
        got = jacx.jacobian(f, mode="cut", chunk_size=7)(x)
    tree_close(got, jax.jacfwd(f)(x))


def test_bad_mode_and_explain_without_arguments():
    with pytest.raises(jacx.JacxUsageError, match="'cut'"):
        jacx.jacobian(jnp.sin, mode="cuts")
    with pytest.raises(jacx.JacxUsageError, match="needs the arguments"):
        jacx.explain(jnp.sin)


def test_explain_measures():
    f = mlp(AUTOENCODER)
    plan = jacx.explain(f, jnp.linspace(-1, 1, 60), measure=True)
    assert set(plan.measured) == {"plan", "forward", "reverse"}
    assert "measured" in str(plan)


def test_calibration_is_positive_and_cached():
    m = _cuts.cost_model("float32")
    assert m.per_flop > 0 and m.per_entry > 0 and m.measured
    assert _cuts.cost_model(np.float32) is m


# ------------------------------------------------------------------------------------------------ random programs
ACTS = [jnp.tanh, jnp.sin, jax.nn.sigmoid, lambda h: h * h, jax.nn.softplus]


@settings(max_examples=25, deadline=None)
@given(
    dims=st.lists(st.integers(1, 24), min_size=2, max_size=6),
    acts=st.tuples(*[st.integers(0, len(ACTS) - 1)] * 5),
    skip=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_programs_equal_jacfwd(dims, acts, skip, seed):
    """Random chains of layers (with or without a bottleneck, with or without a skip connection over the middle):
    mode="cut" and mode="auto" equal jax.jacfwd."""
    rng = np.random.default_rng(seed)
    Ws = [jnp.asarray(rng.standard_normal((b, a)) / np.sqrt(a), jnp.float32) for a, b in zip(dims[:-1], dims[1:])]

    def f(x):
        h = x
        for i, W in enumerate(Ws):
            h = ACTS[acts[i]](W @ h)
        if skip and h.shape == x.shape:
            h = h + jnp.sin(x)
        return jnp.concatenate([h, h[:1] * 2.0])

    x = jnp.asarray(rng.standard_normal(dims[0]), jnp.float32)
    ref = jax.jacfwd(f)(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mode in ("cut", "auto"):
            np.testing.assert_allclose(jacx.jacobian(f, mode=mode)(x), ref, rtol=2e-5, atol=2e-5)


@settings(max_examples=10, deadline=None)
@given(k=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_random_bottlenecks_are_found(k, seed):
    f = mlp([40, 20, k, 20, 40], seed=seed)
    plan = analyse(f, [jnp.ones(40)], model=FLAT)
    assert k in plan.widths
    x = jnp.asarray(np.random.default_rng(seed).standard_normal(40), jnp.float32)
    np.testing.assert_allclose(jacx.jacobian(f, mode="cut")(x), jax.jacfwd(f)(x), rtol=2e-5, atol=2e-5)


def test_auto_does_not_plan_on_every_eager_call(monkeypatch):
    """Without compilation (jit=False) jacx.jacobian runs its body on every call: mode="auto" must not trace and
    analyse the program each time (nor run a plan op by op, whose cost the compiled cost model does not see), so
    it stays today's forward/reverse program; mode="cut" still forces the plan."""
    f = mlp([200, 100, 4, 100, 200])
    x = jnp.linspace(-1, 1, 200)
    assert jacx.explain(f, x).use  # compiled, mode="auto" follows the plan
    calls = []
    real = _cut_plan.analyse
    monkeypatch.setattr(_cut_plan, "analyse", lambda *a, **k: calls.append(1) or real(*a, **k))
    jacx.clear_caches()
    J = jacx.jacobian(f, jit=False)
    for _ in range(3):
        tree_close(J(x), jax.jacfwd(f)(x), rtol=1e-4, atol=1e-5)
    assert calls == []
    tree_close(jacx.jacobian(f, mode="cut", jit=False)(x), jax.jacfwd(f)(x), rtol=1e-4, atol=1e-5)
    assert calls == [1]
    tree_close(jacx.jacobian(f)(x), jax.jacfwd(f)(x), rtol=1e-4, atol=1e-5)  # compiled: planned once, at trace
    assert calls == [1, 1]
    jacx.clear_caches()
