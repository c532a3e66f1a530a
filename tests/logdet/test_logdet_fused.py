"""The one-pass engine behind the structured log-determinant: ``g(v)`` and ``J_g(v) @ seeds`` together.

Every case is checked against JAX's own ``jax.jvp`` column by column (float64), with and without the
live-entry pruning (where only the wanted entries must be right), on functions that exercise the structural
operations the engine evaluates at trace time, the fused products, custom JVP rules, nested jit and loops.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx.logdet as ld
from jacx.flows import AffineCoupling, Chain, realnvp
from jacx.flows._coupling import _merge, _pick
from jacx.logdet import _logdet
from jacx.logdet._fused import primal_and_products
from jacx.logdet._structure import analyze_pattern


def _reference(g, v, seeds):
    y = g(v)
    cols = [jax.jvp(g, (v,), (jnp.asarray(seeds[:, c], v.dtype),))[1] for c in range(seeds.shape[1])]
    return y, cols


W = np.random.default_rng(0).standard_normal((6, 6))


def _coupling_like(v):  # gather + scatter, as a coupling written with fancy indexing
    a, b = np.array([0, 2, 5]), np.array([1, 3, 4])
    h = jnp.tanh(jnp.asarray(W[:3, :3]) @ v[a])
    return v.at[b].set(v[b] * jnp.exp(h) + h ** 2)


FUNCTIONS = {
    "coupling_like": _coupling_like,
    "mlp_relu": lambda v: jax.nn.relu(jnp.asarray(W) @ v) + v,  # custom_jvp (relu) + a fused product
    "nested_jit": lambda v: jax.jit(lambda u: jnp.sin(u) * u[::-1])(v) + jnp.concatenate([v[3:], v[:3]]),
    "loop": lambda v: jax.lax.fori_loop(0, 3, lambda i, u: u + 0.1 * jnp.tanh(jnp.asarray(W) @ u), v),
    "cumsum_reshape": lambda v: jnp.cumsum(v.reshape(2, 3), axis=1).T.ravel() * jnp.exp(v),
    "weight_times_tangent_both": lambda v: (v[:, None] * v[None, :]) @ v,  # a product of two tangent carriers
    "split_stack": lambda v: jnp.stack(jnp.split(v, 2)[::-1], axis=-1).reshape(6) ** 3,
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_products_equal_jax_jvp(name, x64):
    g = FUNCTIONS[name]
    v = jnp.asarray(np.random.default_rng(1).standard_normal(6))
    seeds = np.eye(6)[:, [0, 3, 5, 1, 2, 4]]
    y_ref, cols_ref = _reference(g, v, seeds)
    y, cols = jax.jit(lambda u: primal_and_products(g, u, seeds))(v)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    for c, ref in zip(cols, cols_ref):
        got = np.zeros(6) if c is None else np.asarray(c)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_wanted_entries_are_right_when_pruning(name, x64):
    g = FUNCTIONS[name]
    v = jnp.asarray(np.random.default_rng(2).standard_normal(6))
    seeds = np.zeros((6, 2))
    seeds[[0, 2, 4], 0] = 1.0
    seeds[[1, 3, 5], 1] = 1.0
    wanted = np.zeros((2, 6), bool)
    wanted[0, [0, 2, 4]] = True
    wanted[1, [1, 5]] = True
    _, cols_ref = _reference(g, v, seeds)
    _, cols = jax.jit(lambda u: primal_and_products(g, u, seeds, wanted))(v)
    for c, ref, w in zip(cols, cols_ref, wanted):
        got = np.zeros(6) if c is None else np.asarray(c)
        np.testing.assert_allclose(got[w], np.asarray(ref)[w], rtol=1e-12, atol=1e-12)


def test_pruning_keeps_what_a_concatenation_routes_to_wanted_entries(x64):
    # [[I, 0], [A, D]] written with a concatenation: the first half's probe reaches the second half only through
    # A (not wanted), the second half's probe reaches D (wanted); a wrong routing would drop or misplace one
    g = lambda v: jnp.concatenate([v[:3], v[3:] * jnp.exp(jnp.asarray(W[:3, :3]) @ v[:3]) + v[:3] ** 2])  # noqa: E731
    v = jnp.asarray(np.random.default_rng(3).standard_normal(6))
    seeds = np.zeros((6, 2))
    seeds[:3, 0] = 1.0
    seeds[3:, 1] = 1.0
    wanted = np.zeros((2, 6), bool)
    wanted[0, :3] = True
    wanted[1, 3:] = True
    _, cols_ref = _reference(g, v, seeds)
    _, cols = jax.jit(lambda u: primal_and_products(g, u, seeds, wanted))(v)
    for c, ref, w in zip(cols, cols_ref, wanted):
        np.testing.assert_allclose(np.asarray(c)[w], np.asarray(ref)[w], rtol=1e-12, atol=1e-12)


def test_a_probe_the_function_never_reads_is_known_zero(x64):
    # the second probe only touches entries the function ignores: it is dropped (None), not computed as zeros
    g = lambda v: jnp.tanh(v[:3]).sum() * jnp.ones(6)  # noqa: E731
    seeds = np.zeros((6, 2))
    seeds[:3, 0] = 1.0
    seeds[3:, 1] = 1.0
    _, cols = primal_and_products(g, jnp.ones(6), seeds)
    assert cols[1] is None and cols[0] is not None


def test_coupling_layer_measures_no_conditioner_tangent():
    # the structured pass over a coupling: one product per weight matrix (the primal's), none for tangents
    b = AffineCoupling.init(jax.random.key(0), (True, False) * 8, (32,), zero_last=False)
    x = jnp.ones(16)
    s = analyze_pattern(b.jacobian_pattern(x))
    jaxpr = jax.make_jaxpr(lambda v: _logdet._structured(b.forward, v, s))(x)
    assert str(jaxpr).count("dot_general") == 2


@settings(max_examples=25, deadline=None)
@given(st.lists(st.booleans(), min_size=2, max_size=9).filter(lambda m: any(m) and not all(m)))
def test_pick_and_merge_any_mask(mask):
    m = np.asarray(mask)
    a, b = np.flatnonzero(m), np.flatnonzero(~m)
    x = np.arange(m.size, dtype=np.float32) + 1.0
    np.testing.assert_array_equal(_pick(jnp.asarray(x), a), x[a])
    np.testing.assert_array_equal(_pick(jnp.asarray(x), b), x[b])
    merged = _merge(jnp.asarray(x[a]), jnp.asarray(-x[b]), a, b)
    expected = x.copy()
    expected[b] = -x[b]
    np.testing.assert_array_equal(merged, expected)
    batched = _merge(jnp.asarray(np.tile(x[a], (3, 1))), jnp.asarray(np.tile(-x[b], (3, 1))), a, b)
    np.testing.assert_array_equal(batched, np.tile(expected, (3, 1)))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.booleans(), min_size=2, max_size=7).filter(lambda m: any(m) and not all(m)), st.integers(0, 99))
def test_coupling_structured_equals_dense_any_mask(mask, seed):
    with jax.enable_x64(True):
        key = jax.random.key(seed)
        b = AffineCoupling.init(key, tuple(mask), (8,), zero_last=False, dtype=jnp.float64)
        x = jax.random.normal(key, (len(mask),), jnp.float64)
        exact = jnp.linalg.slogdet(jax.jacfwd(b.forward)(x))
        r = jax.jit(lambda v: ld.logdet(b)(v))(x)
        np.testing.assert_allclose(r.logabsdet, exact[1], rtol=1e-10, atol=1e-10)
        assert r.sign == exact[0]


def test_public_api_equals_its_jit_and_does_not_retrace(monkeypatch, x64):
    flow = realnvp(jax.random.key(3), 4, num_layers=3, hidden=(8,), mixing=True).bijector
    flow = jax.tree_util.tree_map(lambda a: 0.3 * jax.random.normal(jax.random.key(4), a.shape, a.dtype)
                                  if jnp.issubdtype(a.dtype, jnp.floating) else a, flow)
    x = jnp.linspace(-1.0, 1.0, 4)
    exact = jnp.linalg.slogdet(jax.jacfwd(flow.forward)(x))
    traces = []
    original = _logdet.find_structure
    monkeypatch.setattr(_logdet, "find_structure", lambda *a, **k: traces.append(1) or original(*a, **k))
    f = ld.logdet(flow)
    first = f(x)
    after_first = len(traces)
    for _ in range(5):
        again = f(x)
    assert len(traces) == after_first  # compiled once for this shape: later calls trace nothing
    np.testing.assert_allclose(first.logabsdet, exact[1], rtol=1e-10)
    np.testing.assert_allclose(again.logabsdet, exact[1], rtol=1e-10)
    assert again.sign == exact[0]
    inside = jax.jit(lambda v: ld.logdet(flow)(v))(x)
    np.testing.assert_allclose(inside.logabsdet, first.logabsdet, rtol=1e-12)


def test_chain_output_in_the_layers_layout(x64):
    # a square layer mapping a (2, 3) event to a (2, 3) event: the next layer receives that shape
    from jacx.flows import Affine

    c = Chain((Affine(jnp.array(2.0), jnp.array(0.5)), Affine(jnp.array(-1.5), jnp.array(0.0))))
    x = jnp.ones((2, 3))
    r = ld.logdet(c)(x)
    np.testing.assert_allclose(r.logabsdet, 6 * np.log(2.0) + 6 * np.log(1.5), rtol=1e-12)
    assert r.sign == 1.0


SCALE = jnp.array([2.0, 3.0, 0.5])


def _scaled(v):
    return SCALE * v + jnp.tanh(v) * 0.0


def test_public_api_after_compiling_the_state_in_still_sees_a_rebound_global():
    global SCALE
    f = ld.logdet(_scaled, structure=np.eye(3, dtype=bool))
    x = jnp.ones(3)
    for _ in range(12):  # past the calls after which the state is compiled in as constants
        r = f(x)
    np.testing.assert_allclose(r.logabsdet, np.log(3.0), rtol=1e-6)
    old = SCALE
    try:
        SCALE = jnp.array([4.0, 3.0, 0.5])
        np.testing.assert_allclose(f(x).logabsdet, np.log(6.0), rtol=1e-6)  # never the stale constants
    finally:
        SCALE = old


def test_many_probes_do_not_grow_the_program():
    # a MAF layer needs one probe per entry; the program must not hold one op per probe (n = 256 once took
    # 15 s to compile), so its size stays about the same from 32 to 256 entries
    from jacx.flows import MaskedAutoregressive

    def size(n):
        b = MaskedAutoregressive.init(jax.random.key(0), n, (16,), zero_last=False)
        s = analyze_pattern(b.jacobian_pattern(jnp.ones(n)))
        return str(jax.make_jaxpr(lambda v: _logdet._structured(b.forward, v, s)[:2])(jnp.ones(n))).count("\n")

    assert size(256) < size(32) + 20
