"""Adversarial review of the compile cache: ways real code reads state that the guards and keys did not see.

Each case computes with jacx, changes state the way users do, computes again, and compares with eager
``jax.jacfwd``/``jax.grad`` (or the eager error) at that moment. The first part holds cases that failed when this file
was written (stale values, or a crash on a pattern eager JAX handles); the second part holds passing cases for patterns
that test_cache_soundness.py and test_cache_property.py do not cover.
"""

from __future__ import annotations

import collections
import enum
import functools
import types
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacx

# a fix may well make some of these functions "unprovable" (traced on every call, with a one-time warning)
pytestmark = pytest.mark.filterwarnings("ignore::jacx.AutoJitWarning")

X = jnp.array([0.3, -0.7, 1.1])


def _same(got, want, rtol=1e-5, atol=1e-6):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def _twice(f, change, entry=None, eager=None, x=X):
    """Compute (twice: the second call takes the fast path), change the state, compute again; each time the result
    must equal eager JAX at that moment, and the change must matter."""
    entry = entry or jacx.jacobian
    eager = eager or jax.jacfwd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        first = np.asarray(entry(f)(x))
        _same(first, eager(f)(x))
        _same(entry(f)(x), eager(f)(x))
        change()
        second = np.asarray(entry(f)(x))
        _same(second, eager(f)(x))
    assert first.shape != second.shape or not np.allclose(first, second), "the state change should matter"


# ================================================================================================================
# Part 1: cases that fail now
# ================================================================================================================

# ------------------------------------------------------------------------------------------ PRNG keys (crashes)
def test_typed_prng_key_closed_over_does_not_crash():
    # _program._pack_consts: np.dtype(c.dtype) of a key<fry> constant raises TypeError (jit=False works)
    key = jax.random.key(0)
    f = lambda v: jax.random.normal(key, (3,)) * jnp.sin(v)
    _same(jacx.jacobian(f)(X), jax.jacfwd(f)(X))
    _same(jacx.gradient(lambda v: jnp.sum(f(v)))(X), jax.grad(lambda v: jnp.sum(f(v)))(X))


@pytest.mark.parametrize("jit", [True, False])
def test_legacy_prng_key_used_inside_f_does_not_crash(jit):
    # _memory.per_pass_bytes: np.dtype(aval.dtype) of the key<fry> value made by random_wrap raises TypeError
    key = jax.random.PRNGKey(0)
    f = lambda v: jax.random.normal(key, (3,)) * jnp.sin(v)
    _same(jacx.jacobian(f, jit=jit)(X), jax.jacfwd(f)(X))


# ------------------------------------------------------------------------------------------ function attributes
# _guards._Analysis.function guards __code__, defaults and cells, but not the function's own __dict__, so
# `f.scale = ...` (function attributes as static storage) is never noticed; state_key() has the same blind spot.
def test_function_attribute_read_by_f():
    def f(v):
        return f.scale * jnp.sin(v) * v[0]

    f.scale = 2.0
    _twice(f, lambda: setattr(f, "scale", 5.0))


def test_function_attribute_read_by_a_helper():
    def helper(v):
        return helper.W @ v

    helper.W = jnp.eye(3)
    f = lambda v: jnp.tanh(helper(v))
    _twice(f, lambda: setattr(helper, "W", jnp.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.5], [3.0, 0.0, 1.0]])))


@pytest.mark.parametrize("entry,eager", [
    (lambda f: jacx.det(f), lambda f: (lambda x: jnp.linalg.det(jax.jacfwd(f)(x)))),
    (lambda f: (lambda x: jacx.linearize(f, x).jacobian), jax.jacfwd),
], ids=["det", "linearize"])
def test_function_attribute_other_entry_points(entry, eager):
    def f(v):
        return f.s * jnp.sin(v) + v

    f.s = 1.0
    _twice(f, lambda: setattr(f, "s", 3.0), entry=entry, eager=eager)


def test_function_attribute_through_jax_vmap():
    def g(u):
        return g.s * jnp.sin(u)

    g.s = 1.0
    _twice(jax.vmap(g), lambda: setattr(g, "s", 3.0))


def test_sparsity_follows_a_function_attribute():
    import jacx.sparse

    def f(v):
        return (f.A @ v) * v

    f.A = jnp.eye(4)
    x = jnp.arange(1.0, 5.0)
    assert jacx.sparse.sparsity(f, x).nnz == 4
    f.A = jnp.ones((4, 4))
    assert jacx.sparse.sparsity(f, x).nnz == 16  # the cached diagonal pattern came back


def test_prepared_sparse_jacobian_follows_a_function_attribute():
    import jacx.sparse

    def f(v):
        return (f.A @ v) * v

    f.A = jnp.eye(4)
    x = jnp.arange(1.0, 5.0)
    jac = jacx.sparse.jacobian(f, x)
    _same(jac(x).todense(), jax.jacfwd(f)(x))
    f.A = jnp.ones((4, 4))  # the pattern gains nonzeros: the guard vouched for the old one
    _same(jac(x).todense(), jax.jacfwd(f)(x))


def test_logdet_structure_follows_a_function_attribute():
    import jacx.logdet

    def f(v):
        return f.A @ v

    f.A = jnp.diag(jnp.array([2.0, 3.0, 4.0]))
    _same(jacx.logdet.logdet(f)(X).logabsdet, jnp.linalg.slogdet(f.A)[1])
    f.A = jnp.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])  # no longer diagonal
    _same(jacx.logdet.logdet(f)(X).logabsdet, jnp.linalg.slogdet(f.A)[1])


def test_implicit_root_follows_a_function_attribute():
    import jacx.implicit

    def F(z, th):
        return z - F.s * jnp.tanh(z) - th

    th = jnp.array([0.3, 0.2])

    def reference():
        z = jnp.zeros(2)
        for _ in range(200):  # a contraction: plain iteration converges
            z = F.s * jnp.tanh(z) + th
        return z

    F.s = 0.5
    _same(jacx.implicit.root(F, jnp.zeros(2), th), reference(), rtol=1e-4, atol=1e-5)
    F.s = 0.1
    _same(jacx.implicit.root(F, jnp.zeros(2), th), reference(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------ custom rules
# _program._rule_token walks plain functions, partial.func/args, WrappedFun and custom_jvp/vjp objects only; a
# bound method, a callable object or partial *keywords* are skipped, so the program key does not change with them
# (the docstring promises "a rule we cannot see through gets a key that never matches").
class _ScaledRule:
    def __init__(self):
        self.s = 1.0

    def jvp(self, primals, tangents):
        return jnp.sin(primals[0]), self.s * jnp.cos(primals[0]) * tangents[0]

    __call__ = jvp


def _custom_sin(rule):
    @jax.custom_jvp
    def g(u):
        return jnp.sin(u)

    g.defjvp(rule)
    return lambda v: g(v) * 2.0


def _rule_bound_method():
    r = _ScaledRule()
    return _custom_sin(r.jvp), lambda: setattr(r, "s", 7.0)


def _rule_callable_object():
    r = _ScaledRule()
    return _custom_sin(r), lambda: setattr(r, "s", 7.0)


def _rule_partial_keywords():
    cfg = {"s": 1.0}

    def rule(primals, tangents, cfg):
        return jnp.sin(primals[0]), cfg["s"] * jnp.cos(primals[0]) * tangents[0]

    return _custom_sin(functools.partial(rule, cfg=cfg)), lambda: cfg.__setitem__("s", 7.0)


@pytest.mark.parametrize("make", [_rule_bound_method, _rule_callable_object, _rule_partial_keywords],
                         ids=["bound-method", "callable-object", "partial-keywords"])
def test_custom_jvp_rule_reading_mutable_state(make):
    f, change = make()
    _twice(f, change)


def test_custom_vjp_bwd_bound_method_reading_an_attribute():
    class Bwd:
        s = 1.0

        def bwd(self, u, ct):
            return (self.s * jnp.cos(u) * ct,)

    b = Bwd()

    @jax.custom_vjp
    def h(u):
        return jnp.sin(u)

    h.defvjp(lambda u: (jnp.sin(u), u), b.bwd)
    f = lambda v: jnp.sum(h(v))
    _twice(f, lambda: setattr(b, "s", 9.0), entry=jacx.gradient, eager=jax.grad)


# ------------------------------------------------------------------------------------------ "immutable" instances
# _guards accepts Enum members and NamedTuples (it walks a NamedTuple's fields) but never looks at their class: its
# methods (and the globals they read) and class attributes can change.
_NT_GAIN = 1.0


class _Layer(NamedTuple):
    w: jax.Array
    scale = 1.0  # a class attribute, not a field

    def apply(self, v):
        return _NT_GAIN * self.scale * jnp.tanh(self.w * v)


def test_namedtuple_method_reads_a_global():
    layer = _Layer(jnp.ones(3))
    f = lambda v: layer.apply(v)

    def change():
        global _NT_GAIN
        _NT_GAIN = 4.0

    try:
        _twice(f, change)
    finally:
        globals()["_NT_GAIN"] = 1.0


def test_namedtuple_class_attribute_changed():
    layer = _Layer(jnp.ones(3))
    f = lambda v: layer.apply(v)
    try:
        _twice(f, lambda: setattr(_Layer, "scale", 3.0))
    finally:
        _Layer.scale = 1.0


def test_namedtuple_method_replaced():
    layer = _Layer(jnp.ones(3))
    f = lambda v: layer.apply(v)
    saved = _Layer.apply
    try:
        _twice(f, lambda: setattr(_Layer, "apply", lambda self, v: jnp.sin(self.w * v)))
    finally:
        _Layer.apply = saved


_ENUM_GAIN = 1.0


class _Activation(enum.Enum):
    TANH = "tanh"

    def __call__(self, v):
        return _ENUM_GAIN * jnp.tanh(v)


def test_enum_member_method_reads_a_global():
    act = _Activation.TANH
    f = lambda v: act(v)

    def change():
        global _ENUM_GAIN
        _ENUM_GAIN = 3.0

    try:
        _twice(f, change)
    finally:
        globals()["_ENUM_GAIN"] = 1.0


# ------------------------------------------------------------------------------------------ library containers
# _guards.value: an object of a "library" type without __dict__ is taken as immutable, but these are live, mutable
# views or containers.
def _mapping_proxy():
    cfg = {"s": 1.0}
    proxy = types.MappingProxyType(cfg)  # the usual "read-only config" idiom: the owner still updates cfg
    return (lambda v: proxy["s"] * jnp.sin(v)), lambda: cfg.__setitem__("s", 7.0)


def _deque():
    buf = collections.deque([jnp.ones(3)])
    return (lambda v: buf[0] * jnp.sin(v)), lambda: buf.__setitem__(0, 3.0 * jnp.ones(3))


def _dict_values_view():
    params = {"w": jnp.ones(3)}
    vals = params.values()
    return (lambda v: sum(vals) * jnp.sin(v)), lambda: params.__setitem__("w", 4.0 * jnp.ones(3))


@pytest.mark.parametrize("make", [_mapping_proxy, _deque, _dict_values_view],
                         ids=["MappingProxyType", "deque", "dict.values"])
def test_mutable_library_containers(make):
    f, change = make()
    _twice(f, change)


def test_numpy_random_through_the_numpy_module():
    # np is a trusted module, so np.random.uniform() (hidden state) is never seen: the fast path replays one draw
    f = lambda v: jnp.sin(v) * np.random.uniform(1.0, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        np.random.seed(0)
        jacx.jacobian(f)(X)
        np.random.seed(1)
        got = jacx.jacobian(f)(X)
        np.random.seed(1)
        want = jax.jacfwd(f)(X)
    _same(got, want)


GAIN = 1.0


def _with_gain(fn):
    @functools.wraps(fn)  # copies __module__ = "jax.numpy": the wrapper's globals are then taken as constant
    def wrapper(v):
        return GAIN * fn(v)

    return wrapper


def test_functools_wraps_of_a_library_function_reads_a_global():
    my_tanh = _with_gain(jnp.tanh)
    f = lambda v: my_tanh(v)

    def change():
        global GAIN
        GAIN = 4.0

    try:
        _twice(f, change)
    finally:
        globals()["GAIN"] = 1.0


# ------------------------------------------------------------------------------------------ nested constants
def test_jit_made_inside_f_over_a_numpy_array_changed_in_place():
    # the inner jit's ClosedJaxpr keeps the NumPy array as a constant; _program._freeze compares nested constants by
    # identity, so the same (mutated) array reuses the program with the old values baked in. Eager JAX re-traces
    # the new inner function on every call.
    w = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    f = lambda v: jax.jit(lambda u: u * jnp.asarray(w))(jnp.sin(v))

    def change():
        w[0] = 10.0

    _twice(f, change)


# ------------------------------------------------------------------------------------------ memo key by equality
def test_equal_but_different_callables_get_their_own_jacobian():
    # _dense.jacobian memoises on ("jacobian", f, ...): f is compared with ==, so a second object that compares
    # equal (same name, other weights) gets the first object's made function, which calls the first object
    class Model:
        def __init__(self, name, s):
            self.name, self.s = name, s

        def __eq__(self, other):
            return isinstance(other, Model) and other.name == self.name

        def __hash__(self):
            return hash(self.name)

        def __call__(self, v):
            return self.s * jnp.sin(v)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        old, new = Model("net", 1.0), Model("net", 3.0)
        _same(jacx.jacobian(old)(X), jax.jacfwd(old)(X))
        _same(jacx.jacobian(new)(X), jax.jacfwd(new)(X))


# ------------------------------------------------------------------------------------------ trace-time config
# only jax_enable_x64 is part of the keys; other trace-context settings change how f traces too
# (jax._src.config.trace_context() holds them all)
@pytest.mark.parametrize("setting", ["dtype-promotion", "rank-promotion"])
def test_trace_time_config_raises_like_eager(setting):
    if setting == "dtype-promotion":
        f = lambda v: v * jnp.float16(2.0) + jnp.sin(v)
        ctx = lambda: jax.numpy_dtype_promotion("strict")
    else:
        f = lambda v: jnp.sin(v)[:, None] + jnp.ones((1,))
        ctx = lambda: jax.numpy_rank_promotion("raise")
    for _ in range(3):
        jacx.jacobian(f)(X)
    with ctx():
        with pytest.raises(Exception) as eager_error:
            jax.jacfwd(f)(X)
        with pytest.raises(eager_error.type):
            jacx.jacobian(f)(X)


# ================================================================================================================
# Part 2: passing cases for patterns not covered elsewhere
# ================================================================================================================
N_POWER = 2
K_INDEX = 0
M_TILE = 3
MODE = "tanh"


def _rebind(name, value):
    def change():
        globals()[name] = value

    return change


@pytest.mark.parametrize("name,f,new", [
    ("N_POWER", lambda v: v ** N_POWER, 3),
    ("K_INDEX", lambda v: jnp.sin(v) * v[K_INDEX], 2),
    ("M_TILE", lambda v: jnp.tile(v, M_TILE), 2),  # changes the output shape
    ("MODE", lambda v: jnp.tanh(v) if MODE == "tanh" else jnp.sin(v), "sin"),
], ids=["int-power", "int-index", "int-shape", "string-mode"])
def test_int_and_string_globals_steering_the_trace(name, f, new):
    saved = globals()[name]
    try:
        _twice(f, _rebind(name, new))
    finally:
        globals()[name] = saved


_BWD_SCALE = 1.0


def test_custom_vjp_bwd_reading_a_global():
    @jax.custom_vjp
    def h(u):
        return jnp.sin(u)

    def bwd(u, ct):
        return (_BWD_SCALE * jnp.cos(u) * ct,)

    h.defvjp(lambda u: (jnp.sin(u), u), bwd)
    f = lambda v: jnp.sum(h(v) * v)
    try:
        _twice(f, _rebind("_BWD_SCALE", 9.0), entry=jacx.gradient, eager=jax.grad)
        globals()["_BWD_SCALE"] = 1.0
        g = lambda v: h(v) * 2.0
        _twice(g, _rebind("_BWD_SCALE", 9.0), entry=lambda f: jacx.jacobian(f, mode="reverse"), eager=jax.jacrev)
    finally:
        globals()["_BWD_SCALE"] = 1.0


def test_custom_jvp_rule_redefined():
    @jax.custom_jvp
    def g(u):
        return jnp.sin(u)

    g.defjvp(lambda p, t: (jnp.sin(p[0]), jnp.cos(p[0]) * t[0]))
    f = lambda v: g(v) * 2.0
    _twice(f, lambda: g.defjvp(lambda p, t: (jnp.sin(p[0]), 5.0 * jnp.cos(p[0]) * t[0])))


_W_NP = np.array([1.0, 2.0, 3.0], dtype=np.float32)


@pytest.mark.parametrize("f", [
    lambda v: jax.lax.fori_loop(0, 2, lambda i, c: c * jnp.asarray(_W_NP), jnp.sin(v)),
    lambda v: jax.lax.scan(lambda c, _: (c * jnp.asarray(_W_NP), None), jnp.sin(v), None, length=2)[0],
    lambda v: jax.lax.cond(v[0] > 0, lambda u: u * jnp.asarray(_W_NP), lambda u: u, jnp.sin(v)),
    lambda v: jax.lax.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, c[1] * jnp.asarray(_W_NP)),
                                 (0, jnp.sin(v)))[1],
    lambda v: jax.checkpoint(lambda u: u * jnp.asarray(_W_NP))(jnp.sin(v)),
], ids=["fori_loop", "scan", "cond", "while_loop", "checkpoint"])
def test_numpy_array_changed_in_place_read_inside_control_flow(f):
    def change():
        _W_NP[0] = 10.0

    try:
        _twice(f, change)
    finally:
        _W_NP[:] = [1.0, 2.0, 3.0]


_S = 1.0


def test_interleaved_shapes_then_a_state_change():
    f = lambda v: _S * jnp.sin(v) * v[0]
    xa, xb = jnp.array([0.3, 0.5]), jnp.array([0.1, 0.2, 0.3, 0.4])
    try:
        for x in (xa, xb, xa, xb):
            _same(jacx.jacobian(f)(x), jax.jacfwd(f)(x))
        globals()["_S"] = 3.0
        for x in (xa, xb, xa):  # both shapes' records were vouched for by the old guard
            _same(jacx.jacobian(f)(x), jax.jacfwd(f)(x))
    finally:
        globals()["_S"] = 1.0


_FLAG = False


def test_state_change_to_python_control_flow_on_values_and_back():
    def g(v):
        if _FLAG and v[0] > 0:  # a Python `if` on a value once the flag is on
            return jnp.sin(v) * 5.0
        return jnp.cos(v)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        try:
            _same(jacx.jacobian(g)(X), jax.jacfwd(g)(X))
            globals()["_FLAG"] = True
            _same(jacx.jacobian(g)(X), jax.jacfwd(g)(X))
            globals()["_FLAG"] = False
            _same(jacx.jacobian(g)(X), jax.jacfwd(g)(X))
        finally:
            globals()["_FLAG"] = False


_W_REBOUND = jnp.ones(3)


def test_jitted_helper_reading_a_rebound_global_matches_eager():
    # eager JAX's jit keeps its own trace of the helper: jacx must give what eager gives, whatever that is
    @jax.jit
    def helper(u):
        return u * _W_REBOUND

    f = lambda v: helper(jnp.sin(v))
    try:
        _same(jacx.jacobian(f)(X), jax.jacfwd(f)(X))
        globals()["_W_REBOUND"] = 5.0 * jnp.ones(3)
        _same(jacx.jacobian(f)(X), jax.jacfwd(f)(X))
    finally:
        globals()["_W_REBOUND"] = jnp.ones(3)


def test_caches_stay_bounded_over_many_states():
    from jacx import _autojit

    params = {"w": jnp.ones(3)}
    g = lambda v: params["w"] * jnp.sin(v)
    w_box = {}
    exec("import jax.numpy as jnp\nW = jnp.ones(3)\ndef f(v):\n    return W * jnp.sin(v)\n", w_box)
    jacx.clear_caches()
    warned_before = len(_autojit._warned)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        for i in range(300):
            w_box["W"] = jnp.full(3, float(i))
            params["w"] = jnp.full(3, float(-i))
            jacx.jacobian(w_box["f"])(X)
            jacx.jacobian(g)(X)
            jacx.jacobian(lambda v, i=i: jnp.full(3, float(i)) * jnp.tanh(v))(X)  # rebuilt every time
        _same(jacx.jacobian(w_box["f"])(X), jax.jacfwd(w_box["f"])(X))
        _same(jacx.jacobian(g)(X), jax.jacfwd(g)(X))
    info = jacx.cache_info()
    assert info["transformed functions"] <= 256
    assert info["compiled programs"] <= 8  # three structures (plus nothing per state)
    assert len(_autojit._warned) - warned_before <= 3  # one warning per code object, not per state
