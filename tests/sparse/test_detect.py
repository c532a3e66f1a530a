"""Sparsity detection: exact patterns per primitive family, conservativeness, fallbacks, control flow."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jax import lax

import jacx.sparse as js
from jacx._errors import JacxUsageError, UntraceableFunctionError

from .conftest import dense_nonzeros

RNG = np.random.default_rng(42)
CONST_IDX = np.array([3, 0, 7, 7, 2])
SPARSE_MAT = (RNG.random((6, 8)) < 0.3) * RNG.normal(size=(6, 8))

# functions of an 8-vector whose detected pattern must equal the exact structural pattern
EXACT = {
    "elementwise": lambda x: jnp.sin(x) * jnp.exp(x) + x**3 - jnp.tanh(x) / (1.0 + x * x),
    "broadcast-scalar": lambda x: x * 2.0 + 1.0,
    "slice-concat": lambda x: jnp.concatenate([x[:3] * x[5:], x[::2]]),
    "reshape-transpose": lambda x: (x.reshape(2, 4).T * jnp.arange(1.0, 5.0)[:, None]).ravel(),
    "rev-pad": lambda x: jnp.pad(x[::-1] ** 2, (2, 1)),
    "roll": lambda x: jnp.roll(x, 3) * x,
    "dynamic-slice-const": lambda x: lax.dynamic_slice(x, (2,), (3,)) ** 2,
    "dynamic-update-const": lambda x: lax.dynamic_update_slice(x, x[:2] ** 2, (5,)),
    "gather-const": lambda x: x[CONST_IDX] ** 2,
    "scatter-add-const": lambda x: jnp.zeros(8).at[CONST_IDX].add(x[:5] ** 2),
    "scatter-set-const": lambda x: x.at[jnp.array([1, 4])].set(x[6:] ** 2),
    "dot-sparse-const": lambda x: jnp.asarray(SPARSE_MAT) @ x,
    "dot-outer": lambda x: jnp.outer(x[:3], x[5:]).ravel(),
    "matmul-batched": lambda x: jnp.einsum("bij,bj->bi", x.reshape(2, 2, 2), x.reshape(2, 2, 2)[:, 0]).ravel(),
    "reductions": lambda x: jnp.stack([jnp.sum(x[:3]), jnp.prod(x[5:])]),
    "reduce-axis": lambda x: jnp.sum(x.reshape(2, 4) ** 2, axis=1),
    "cumsum": lambda x: jnp.cumsum(x[:5]),
    "cumprod-reverse": lambda x: lax.cumprod(x[2:], reverse=True),
    "where-const": lambda x: jnp.where(jnp.arange(8) % 2 == 0, x, x[::-1] ** 2),
    "integer-pow": lambda x: x**4 + x[::-1] ** 2,
    "mul-by-const-zero": lambda x: x * jnp.array([0.0, 1.0] * 4),
    "select-data": lambda x: jnp.where(x > 0, x, 2 * x),
    "clamp-max": lambda x: jnp.maximum(x, -9.0) + jnp.clip(x[::-1], -9.0, 9.0),
    "pjit": lambda x: jax.jit(lambda z: z[1:] * z[:-1])(x),
    "checkpoint": lambda x: jax.checkpoint(lambda z: jnp.sin(z) * z[0])(x),
    "softmax-blocks": lambda x: jax.nn.softmax(x.reshape(2, 4), axis=1).ravel(),
    "split": lambda x: jnp.split(x, 2)[0] * jnp.split(x, 2)[1],
    "stack": lambda x: jnp.stack([x[:4], x[4:] ** 2], axis=1).ravel(),
    "conv1d": lambda x: jnp.convolve(x, jnp.array([1.0, 0.0, -2.0]), mode="same"),
    "conv2d-grouped": lambda x: lax.conv_general_dilated(
        x.reshape(1, 2, 2, 2), jnp.ones((2, 1, 2, 1)), (1, 1), "SAME", feature_group_count=2
    ).ravel(),
    "fori-static": lambda x: lax.fori_loop(0, 3, lambda i, z: z * jnp.roll(z, 1), x),
    "scan-running": lambda x: lax.scan(lambda c, t: (c * 0.5 + t, c * t), 0.0, x)[1],
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_patterns(name, x64):
    f = EXACT[name]
    x = jnp.asarray(RNG.normal(size=8))
    pattern = js.sparsity(f, x).toarray()
    expected = dense_nonzeros(f, x, n_points=4)
    np.testing.assert_array_equal(pattern, expected)


BLOCKS = np.kron(np.eye(2, dtype=bool), np.ones((4, 4), dtype=bool))  # two lines of 4


@pytest.mark.parametrize(
    "f, expected",
    [
        (lambda x: jnp.max(x.reshape(2, 4), axis=1), BLOCKS[::4]),
        (lambda x: jnp.sort(x.reshape(2, 4), axis=1).ravel(), BLOCKS),
        (lambda x: lax.top_k(x.reshape(2, 4), 3)[0].ravel(), BLOCKS[[0, 1, 2, 4, 5, 6]]),
        (lambda x: lax.cummax(x.reshape(2, 4), axis=1).ravel(), np.kron(np.eye(2), np.tril(np.ones((4, 4)))) > 0),
    ],
)
def test_selection_ops_depend_on_their_whole_line(f, expected):
    """max/sort/top_k pick an element that depends on the values: globally, any element of the line."""
    np.testing.assert_array_equal(js.sparsity(f, jnp.ones(8)).toarray(), expected)


def test_pattern_type_and_flattening():
    f = lambda x: {"a": x[0] * x, "b": x[1:, 0]}
    p = js.sparsity(f, jnp.ones((3, 2)))
    assert p.dtype == bool and p.shape == (6 + 2, 6)
    assert p.format == "csr"
    expected = np.zeros((8, 6), bool)
    for i in range(3):
        for j in range(2):
            expected[2 * i + j, [j, 2 * i + j]] = True
    expected[6, 2] = expected[7, 4] = True
    np.testing.assert_array_equal(p.toarray(), expected)


def test_hand_derived_tridiagonal():
    f = lambda x: (3.0 - 2.0 * x) * x - jnp.pad(x, 1)[:-2] - 2.0 * jnp.pad(x, 1)[2:] + 1.0
    p = js.sparsity(f, jnp.ones(5)).toarray().astype(int)
    assert (p == (np.eye(5, k=-1) + np.eye(5) + np.eye(5, k=1))).all()


def test_cond_is_union_of_branches():
    f = lambda x: lax.cond(x[0] > 0, lambda z: z[:3] * z[3], lambda z: z[1:4] ** 2, x)
    p = js.sparsity(f, jnp.ones(5)).toarray()
    expected = np.zeros((3, 5), bool)
    for i in range(3):
        expected[i, [i, 3, i + 1]] = True
    np.testing.assert_array_equal(p, expected)


def test_cond_with_constant_index_takes_one_branch():
    f = lambda x: lax.switch(1, [lambda z: z * z[0], lambda z: z * 2.0], x)
    np.testing.assert_array_equal(js.sparsity(f, jnp.ones(3)).toarray(), np.eye(3, dtype=bool))


def test_while_fixed_point():
    # each iteration spreads dependence by one neighbour; the trip count is data dependent
    f = lambda x: lax.while_loop(lambda c: c[1] < c[0][0], lambda c: (c[0] * jnp.roll(c[0], 1), c[1] + 1), (x, 0))[0]
    p = js.sparsity(f, jnp.ones(6))
    assert p.toarray().all()


def test_while_fixed_point_keeps_locality():
    f = lambda x: lax.while_loop(lambda c: c[0] < 2.0, lambda c: c * 1.5, x)
    np.testing.assert_array_equal(js.sparsity(f, jnp.ones(3)).toarray(), np.eye(3, dtype=bool))


def test_long_scan_is_conservative(monkeypatch):
    from jacx.sparse import _rules_control

    f = lambda x: lax.scan(lambda c, t: (c + t, c * t), 0.0, x)[1]
    exact = js.sparsity(f, jnp.ones(6)).toarray()
    assert exact[0].sum() == 0 and exact[3].sum() == 4  # y_t = (x_0 + ... + x_{t-1}) x_t
    assert (exact[3, :4]).all()
    monkeypatch.setattr(_rules_control, "_SCAN_UNROLL_BUDGET", 1)
    g = lambda x: lax.scan(lambda c, t: (c + t, c * t), 0.0, x)[1]  # a new function: not cached
    loose = js.sparsity(g, jnp.ones(6)).toarray()
    assert (loose >= exact).all() and loose.all()  # fixed point over the union of time steps


def test_dynamic_index_is_conservative(x64):
    f = lambda x: x[jnp.argmax(x)] * x[:2]
    x = jnp.asarray(RNG.normal(size=4))
    p = js.sparsity(f, x).toarray()
    assert p.all()


def test_dynamic_slice_unknown_start(x64):
    start = lambda x: (jnp.zeros((), jnp.int32), jnp.argmax(x).astype(jnp.int32))
    f = lambda x: lax.dynamic_slice(x.reshape(2, 4), start(x), (2, 2)).ravel()
    p = js.sparsity(f, jnp.ones(8)).toarray()
    expected = np.zeros((4, 8), bool)
    expected[:2, :4] = True
    expected[2:, 4:] = True
    np.testing.assert_array_equal(p, expected)


def test_custom_jvp_rule_wider_than_body():
    @jax.custom_jvp
    def g(x):
        return jnp.sin(x)

    g.defjvp(lambda p, t: (g(p[0]), jnp.cos(p[0]) * t[0] + t[0][::-1]))
    p = js.sparsity(g, jnp.ones(4)).toarray()
    np.testing.assert_array_equal(p, np.eye(4, dtype=bool) | np.eye(4, dtype=bool)[::-1])


def test_custom_vjp_rule_wider_than_body():
    @jax.custom_vjp
    def h(x):
        return x * 2

    h.defvjp(lambda x: (h(x), None), lambda r, g: (jnp.roll(g, 1) * 2,))
    p = js.sparsity(h, jnp.ones(4)).toarray()
    j = np.asarray(jax.jacrev(h)(jnp.ones(4))) != 0
    assert (p >= j).all() and (p >= np.eye(4, dtype=bool)).all()


def test_unknown_primitive_warns_and_is_dense():
    f = lambda x: jnp.concatenate([jnp.linalg.solve(x[:9].reshape(3, 3), x[9:12]), x[12:] ** 2])
    with pytest.warns(js.SparsityWarning, match="treated as dense"):
        p = js.sparsity(f, jnp.ones(14)).toarray()
    assert p[:3, :12].all() and not p[:3, 12:].any()
    assert (p[3:, 12:] == np.eye(2, dtype=bool)).all() and not p[3:, :12].any()


def test_stop_gradient_and_integer_paths_have_no_derivative():
    f = lambda x: lax.stop_gradient(x) * 2.0 + jnp.floor(x) + (x > 0).astype(jnp.float32)
    assert js.sparsity(f, jnp.ones(3)).nnz == 0


def test_cache_returns_equal_patterns():
    f = lambda x: x[::-1] * x
    a = js.sparsity(f, jnp.ones(5))
    b = js.sparsity(f, jnp.zeros(5))
    assert (a != b).nnz == 0
    assert js.sparsity(f, jnp.ones(7)).shape == (7, 7)


def test_extra_args_are_not_differentiated():
    f = lambda y, t: y * t + jnp.roll(y, 1) * jnp.sin(t)
    p = js.sparsity(f, jnp.ones(4), args=(1.0,)).toarray()
    np.testing.assert_array_equal(p, np.eye(4, dtype=bool) | np.roll(np.eye(4, dtype=bool), 1, axis=0))


def test_usage_errors():
    with pytest.raises(JacxUsageError, match="floating-point"):
        js.sparsity(lambda x: x, jnp.arange(3))
    with pytest.raises(JacxUsageError, match="callable"):
        js.sparsity(3.0, jnp.ones(3))
    with pytest.raises(UntraceableFunctionError, match="jax.numpy"):
        js.sparsity(lambda x: np.sin(np.asarray(x)), jnp.ones(3))


@pytest.mark.parametrize(
    "kw",
    [
        {"window_strides": (2, 1), "padding": ((1, 2), (0, 1)), "lhs_dilation": (1, 2), "rhs_dilation": (2, 1)},
        {"window_strides": (1, 2), "padding": "VALID", "lhs_dilation": (1, 1), "rhs_dilation": (1, 1)},
        {"window_strides": (1, 1), "padding": ((-1, 1), (2, 0)), "lhs_dilation": (2, 1), "rhs_dilation": (1, 2)},
    ],
)
def test_conv_general_layouts(kw, x64):
    w = jnp.asarray(RNG.normal(size=(3, 2, 2, 3)))  # HWIO
    w = w.at[1, 0, 1, 2].set(0.0)  # a structural zero in a constant kernel is respected

    def f(x):
        y = lax.conv_general_dilated(x.reshape(1, 5, 6, 2), w, dimension_numbers=("NHWC", "HWIO", "NHWC"), **kw)
        return jnp.tanh(y).ravel()

    x = jnp.asarray(RNG.normal(size=60))
    np.testing.assert_array_equal(js.sparsity(f, x).toarray(), dense_nonzeros(f, x, n_points=2))


def test_conv_with_input_dependent_kernel(x64):
    def f(x):
        img, ker = x[:24].reshape(1, 2, 12), x[24:].reshape(2, 2, 3)
        return lax.conv_general_dilated(img, ker, (1,), "SAME").ravel()

    x = jnp.asarray(RNG.normal(size=36))
    np.testing.assert_array_equal(js.sparsity(f, x).toarray(), dense_nonzeros(f, x, n_points=2))


def test_cached_pattern_follows_a_rebound_constant():
    # the pattern depends on exact zeros of constants f reads; rebinding one must not reuse the old pattern
    import jacx.sparse as js

    global _MASK
    _MASK = jnp.array([1.0, 0.0, 1.0])
    f = lambda x: _MASK * x
    assert js.sparsity(f, jnp.ones(3)).toarray().tolist() == np.diag([1, 0, 1]).astype(bool).tolist()
    _MASK = jnp.array([1.0, 1.0, 1.0])
    assert js.sparsity(f, jnp.ones(3)).toarray().tolist() == np.eye(3, dtype=bool).tolist()
    np.testing.assert_array_equal(js.jacobian(f, jnp.ones(3))(jnp.ones(3)).todense(), np.eye(3))


# --- gather / scatter index maps --------------------------------------------------------------------------------
# x has 20 entries, used as a vector or as a (4, 5) matrix m.  Every layout takes k drawn integers (possibly
# repeated, negative or out of bounds) and gives a gather of m, a scatter into m and the updates the scatter takes.

SCATTER_OPS = ["add", "set", "mul", "min", "max"]
_LAX_SCATTER = {"add": lax.scatter_add, "set": lax.scatter, "mul": lax.scatter_mul, "min": lax.scatter_min,
                "max": lax.scatter_max}
_EDGE_SCATTER = lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(0,),
                                            scatter_dims_to_operand_dims=(0, 1))
_EDGE_GATHER = lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0, 1))


def _unique(op):
    # JAX differentiates scatter-mul with respect to its updates only under unique_indices=True; its rule
    # x * scatter_add(0, i, du) has, at generic points, the nonzeros of the true x * prod(other updates) even
    # when indices repeat
    return {"unique_indices": True} if op == "mul" else {}


def _layout(name, ints, rng):
    """(shape, gather(a, mode), scatter(a, u, op, mode), updates(a)) for one indexing layout."""
    k = len(ints)
    idx = jnp.asarray(ints)
    other = jnp.asarray(rng.integers(-6, 6, size=k))
    w = lambda *shape: jnp.asarray(rng.uniform(0.5, 2.0, size=shape))  # positive: duplicates never cancel

    def at(index):
        get = lambda a, mode: a.at[index].get(mode=mode, fill_value=0.0)
        put = lambda a, u, op, mode: getattr(a.at[index], op)(u, mode=mode, **_unique(op))
        return get, put

    if name == "vector":  # 1-D, one element per index
        src, wk = jnp.asarray(rng.integers(0, 20, size=k)), w(k)
        return ((20,), *at(idx), lambda a: wk * a[src])
    src, src2 = jnp.asarray(rng.integers(0, 4, size=k)), jnp.asarray(rng.integers(0, 5, size=k))
    if name == "rows":  # m.at[rows]: one window of a whole row per index
        wk = w(k, 5)
        return ((4, 5), *at(idx), lambda a: wk * a[src])
    if name == "cols":  # m.at[:, cols]: windows along the leading axis
        wk = w(4, k)
        return ((4, 5), *at((slice(None), idx)), lambda a: wk * a[:, src2])
    if name == "pairs":  # m.at[rows, cols]: index vectors of length 2
        wk = w(k)
        return ((4, 5), *at((idx, other)), lambda a: wk * a[src, src2])
    if name == "rows-2d":  # a (2, k) array of row indices: two batch dimensions
        idx2, wk = jnp.stack([idx, other]), w(2, k, 5)
        return ((4, 5), *at(idx2), lambda a: wk * a[jnp.stack([src, src[::-1]])])
    if name == "block":  # m.at[rows, 1:4]: windows of width 3 starting at a constant column
        wk = w(k, 3)
        return ((4, 5), *at((idx, slice(1, 4))), lambda a: wk * a[src, :3])
    if name == "batched":  # vmap over rows: operand and indices batching dimensions
        idx2, wk = jnp.stack([jnp.roll(idx, r) for r in range(4)]), w(4, k)
        get = lambda a, mode: jax.vmap(lambda r, i: r.at[i].get(mode=mode, fill_value=0.0))(a, idx2)
        put = lambda a, u, op, mode: jax.vmap(lambda r, i, v: getattr(r.at[i], op)(v, mode=mode, **_unique(op)))(
            a, idx2, u)
        return ((4, 5), get, put, lambda a: wk * a[:, src2])
    if name == "window-edge":  # lax with windows of width 3 whose start column may put them partly out of bounds
        starts = jnp.stack([idx, jnp.asarray(rng.integers(-1, 4, size=k))], axis=1)
        wk = w(k, 3)
        get = lambda a, mode: lax.gather(a, starts, _EDGE_GATHER, (1, 3), mode=mode, fill_value=0.0)
        put = lambda a, u, op, mode: _LAX_SCATTER[op](a, starts, u, _EDGE_SCATTER, mode=mode, **_unique(op))
        return ((4, 5), get, put, lambda a: wk * a[src, :3])
    raise ValueError(name)


LAYOUTS = ["vector", "rows", "cols", "pairs", "rows-2d", "block", "batched", "window-edge"]
_INDEX_SETTINGS = settings(max_examples=40, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _no_fallback_sparsity(f, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error", js.SparsityWarning)  # a dense fallback would fail here
        return js.sparsity(f, x).toarray()


@st.composite
def _index_draws(draw):
    name = draw(st.sampled_from(LAYOUTS))
    bound = 23 if name == "vector" else 6
    ints = draw(st.lists(st.integers(-bound, bound - 1), min_size=1, max_size=7))
    return name, ints, draw(st.integers(0, 2**31 - 1))


@_INDEX_SETTINGS
@given(draw=_index_draws(), op=st.sampled_from(SCATTER_OPS), mode=st.sampled_from(["drop", "clip", "promise_in_bounds"]))
def test_scatter_patterns_match_dense_jacobian(draw, op, mode, x64):
    """Duplicates, negative and out-of-bounds indices, windows, batching dims: the detected pattern holds every
    nonzero of the dense Jacobian and equals the structural pattern (a landed element depends on the operand
    unless the scatter overwrites it, and on every update landing there)."""
    name, ints, seed = draw
    rng = np.random.default_rng(seed)
    shape, _, put, updates = _layout(name, ints, rng)
    f = lambda x: put(x.reshape(shape), updates(x.reshape(shape)), op, mode).ravel()
    if op == "set":  # overwritten: no operand; several updates on one element: the union (JAX picks a winner)
        ref = lambda x: (put(x.reshape(shape), jnp.zeros_like(updates(x.reshape(shape))), "set", mode)
                         + put(jnp.zeros(shape), updates(x.reshape(shape)), "add", mode)).ravel()
    else:
        ref = lambda x: put(x.reshape(shape), updates(x.reshape(shape)), "add", mode).ravel()
    x = jnp.asarray(rng.normal(size=20))
    pattern = _no_fallback_sparsity(f, x)
    dense = dense_nonzeros(f, x, n_points=3)
    # JAX's scatter-min/max JVP re-reads clipped windows with a NaN-filling gather (jax 0.10): rows of NaN
    if not (op in ("min", "max") and mode == "clip"):
        assert not (dense & ~pattern).any(), f"misses {np.argwhere(dense & ~pattern)[:5]}"
    np.testing.assert_array_equal(pattern, dense_nonzeros(ref, x, n_points=2))
    if op in ("add", "mul"):  # every structural entry is a true nonzero at a generic point
        np.testing.assert_array_equal(pattern, dense)


@_INDEX_SETTINGS
@given(draw=_index_draws(), mode=st.sampled_from(["fill", "clip", "promise_in_bounds"]))
def test_gather_patterns_match_dense_jacobian(draw, mode, x64):
    """Gathers read through the same index map: filled windows have no dependence, clipped ones move in."""
    name, ints, seed = draw
    rng = np.random.default_rng(seed)
    shape, get, _, _ = _layout(name, ints, rng)
    f = lambda x: (get(x.reshape(shape), mode) * 1.5).ravel()
    x = jnp.asarray(rng.normal(size=20))
    np.testing.assert_array_equal(_no_fallback_sparsity(f, x), dense_nonzeros(f, x, n_points=2))


@pytest.mark.parametrize("mode, kept", [("drop", [1, 3]), ("clip", [1, 3, 5])])
def test_scatter_out_of_bounds_modes(mode, kept, x64):
    """x.at[[1, 3, 9]].add(...) on 6 entries: 'drop' discards the update aimed at 9, 'clip' adds it to x[5]."""
    f = lambda x: x.at[jnp.array([1, 3, 9])].add(x[:3] ** 2, mode=mode)
    x = jnp.asarray(RNG.normal(size=6))
    expected = np.eye(6, dtype=bool)
    expected[kept, [0, 1, 2][: len(kept)]] = True
    pattern = js.sparsity(f, x).toarray()
    np.testing.assert_array_equal(pattern, expected)
    np.testing.assert_array_equal(pattern, dense_nonzeros(f, x))


def test_scatter_set_duplicates_take_the_union(x64):
    """Two updates set element 2: JAX keeps one of them, the pattern (valid for any choice) holds both."""
    f = lambda x: x.at[jnp.array([2, 0, 2])].set(x[3:] * 2.0)
    x = jnp.asarray(RNG.normal(size=6))
    expected = np.eye(6, dtype=bool)
    expected[[0, 2], [0, 2]] = False
    expected[2, [3, 5]] = expected[0, 4] = True
    pattern = js.sparsity(f, x).toarray()
    np.testing.assert_array_equal(pattern, expected)
    dense = dense_nonzeros(f, x)
    assert not (dense & ~pattern).any() and dense[2, [3, 5]].sum() == 1


def test_scatter_apply_keeps_the_operand():
    """x.at[i].apply(g) computes g(x[i]): the landed elements still depend on the operand (no updates)."""
    f = lambda x: x.at[jnp.array([1, 3, 3])].apply(jnp.sin)
    np.testing.assert_array_equal(js.sparsity(f, jnp.ones(5)).toarray(), np.eye(5, dtype=bool))


def test_scatter_unknown_indices_is_conservative(x64):
    f = lambda x: x.at[jnp.argmax(x[:3])].set(x[4] ** 2)
    x = jnp.asarray(RNG.normal(size=5))
    pattern = js.sparsity(f, x).toarray()
    expected = np.eye(5, dtype=bool)
    expected[:, 4] = True
    np.testing.assert_array_equal(pattern, expected)
    assert not (dense_nonzeros(f, x) & ~pattern).any()


# --- convolutions with batch groups -----------------------------------------------------------------------------


@st.composite
def _batch_group_convs(draw):
    groups = draw(st.sampled_from([2, 3]))
    n_per, c_in, o_per = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kw = {
        "window_strides": (draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        "padding": tuple((draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(2)),
        "lhs_dilation": (draw(st.integers(1, 2)), 1),
        "rhs_dilation": (1, draw(st.integers(1, 2))),
        "batch_group_count": groups,
    }
    nhwc = draw(st.booleans())
    lhs, rhs = (groups * n_per, c_in, 5, 4), (groups * o_per, c_in, 2, 3)
    if nhwc:
        kw["dimension_numbers"] = ("NHWC", "HWIO", "NHWC")
        lhs, rhs = (lhs[0], 5, 4, c_in), (2, 3, c_in, rhs[0])
    return lhs, rhs, kw, draw(st.booleans()), draw(st.integers(0, 2**31 - 1))


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_batch_group_convs())
def test_conv_batch_groups_match_dense_jacobian(case, x64):
    """batch_group_count G: output feature group g reads lhs batch group g (of N / G contiguous elements), with
    strides, padding, dilations and a constant kernel with structural zeros or a kernel that is an input."""
    lhs, rhs, kw, kernel_is_input, seed = case
    rng = np.random.default_rng(seed)
    n_lhs, n_rhs = int(np.prod(lhs)), int(np.prod(rhs))
    w = jnp.asarray(rng.normal(size=rhs) * (rng.random(rhs) < 0.7))
    out = jax.eval_shape(lambda a, b: lax.conv_general_dilated(a, b, **kw), jax.ShapeDtypeStruct(lhs, float),
                         jax.ShapeDtypeStruct(rhs, float))
    assume(np.prod(out.shape) > 0)

    def f(x):
        ker = x[n_lhs:].reshape(rhs) if kernel_is_input else w
        return lax.conv_general_dilated(x[:n_lhs].reshape(lhs), ker, **kw).ravel()

    x = jnp.asarray(rng.normal(size=n_lhs + (n_rhs if kernel_is_input else 0)))
    np.testing.assert_array_equal(_no_fallback_sparsity(f, x), dense_nonzeros(f, x, n_points=2))


@pytest.mark.parametrize("groups", [2, 3])
def test_conv_batch_groups_then_feature_groups(groups, x64):
    """A batch-grouped strided convolution feeding a feature-grouped one (a convolution has at most one kind)."""
    w1 = jnp.asarray(RNG.normal(size=(2 * groups, 2, 2, 2)))
    w2 = jnp.asarray(RNG.normal(size=(groups, 2, 3, 1)))

    def f(x):
        y = lax.conv_general_dilated(x.reshape(2 * groups, 2, 6, 5), w1, (2, 1), "SAME", batch_group_count=groups)
        return lax.conv_general_dilated(y, w2, (1, 2), "VALID", feature_group_count=groups).ravel()

    x = jnp.asarray(RNG.normal(size=2 * groups * 60))
    pattern = _no_fallback_sparsity(f, x)
    assert pattern.shape[0] * 4 > pattern.sum(axis=1).max()  # far from dense
    np.testing.assert_array_equal(pattern, dense_nonzeros(f, x, n_points=2))
