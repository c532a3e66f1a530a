"""Never stale: every way real code reads state, changed between two calls, against eager JAX at that moment.

Each case builds a function that reads some state, computes its Jacobian with jacx, changes the state the way
users do (rebinding, updating a dict or list in place, setting an attribute, writing into a NumPy array, ...),
and computes again. Both results must equal ``jax.jacfwd`` evaluated eagerly at that moment.
"""

from __future__ import annotations

import functools
import gc
import sys
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacx

X = jnp.array([0.3, -0.7, 1.1])


def _w(seed: float) -> jax.Array:
    return jnp.array([[0.5, -1.0, 0.25], [1.5, 0.3, -0.2], [0.1, 0.9, -1.3]]) * seed


def _check(f, x=X, entry=None, **opts):
    entry = entry or (lambda g: jacx.jacobian(g, **opts))
    got = np.asarray(entry(f)(x))
    want = np.asarray(jax.jacfwd(f)(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    return got


def _twice(f, change, entry=None):
    """Compute, change the state, compute again: both must match eager JAX, and the change must matter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        first = _check(f, entry=entry)
        _check(f, entry=entry)  # a second call on the same state (the fast path)
        change()
        second = _check(f, entry=entry)
    assert not np.allclose(first, second), "the state change should change the Jacobian"


# ------------------------------------------------------------------------------------------------ module state
W_GLOBAL = _w(1.0)
SCALE = 2.0
USE_TANH = True
W_NUMPY = np.array(_w(1.0))  # a writable copy


def _helper_global(v):
    return jnp.tanh(W_GLOBAL @ v)


def _helper_depth3(v):
    return _helper_depth2(v) * 2.0


def _helper_depth2(v):
    return _helper_global(v) + 1.0


def test_global_rebound_read_directly():
    f = lambda v: jnp.tanh(W_GLOBAL @ v)

    def change():
        global W_GLOBAL
        W_GLOBAL = _w(2.0)

    try:
        _twice(f, change)
    finally:
        globals()["W_GLOBAL"] = _w(1.0)


@pytest.mark.parametrize("depth", [1, 3])
def test_global_rebound_read_by_a_helper(depth):
    f = (lambda v: _helper_global(v)) if depth == 1 else (lambda v: _helper_depth3(v))

    def change():
        global W_GLOBAL
        W_GLOBAL = _w(-1.5)

    try:
        _twice(f, change)
    finally:
        globals()["W_GLOBAL"] = _w(1.0)


def test_helper_function_rebound():
    def change():
        global _helper_global

        def _helper_global(v):  # noqa: F811 - the point of the test
            return jnp.sin(W_GLOBAL @ v)

    saved = _helper_global
    try:
        _twice(lambda v: _helper_depth2(v), change)
    finally:
        globals()["_helper_global"] = saved


def test_python_float_global_rebound():
    f = lambda v: SCALE * jnp.sin(v) * v[0]

    def change():
        global SCALE
        SCALE = 3.5

    try:
        _twice(f, change)
    finally:
        globals()["SCALE"] = 2.0


def test_python_flag_steering_control_flow():
    def f(v):
        return jnp.tanh(v) * v[1] if USE_TANH else jnp.sin(v) * v[2]

    def change():
        global USE_TANH
        USE_TANH = False

    try:
        _twice(f, change)
    finally:
        globals()["USE_TANH"] = True


def test_numpy_array_changed_in_place():
    f = lambda v: jnp.tanh(jnp.asarray(W_NUMPY) @ v)

    def change():
        W_NUMPY[0, 0] = 7.0

    try:
        _twice(f, change)
    finally:
        W_NUMPY[0, 0] = float(_w(1.0)[0, 0])


def test_module_attribute_rebound():
    mod = types.ModuleType("jacx_test_settings")
    mod.W = _w(1.0)
    sys.modules[mod.__name__] = mod
    try:
        namespace = {"jnp": jnp, "settings": mod}
        exec("def f(v):\n    return jnp.tanh(settings.W @ v)\n", namespace)  # a function of another module

        def change():
            mod.W = _w(0.5)

        _twice(namespace["f"], change)
    finally:
        del sys.modules[mod.__name__]


def test_class_attribute_rebound():
    class Config:
        scale = 1.0

    f = lambda v: jnp.sin(Config.scale * v) * v[0]

    def change():
        Config.scale = -2.0

    _twice(f, change)


# ------------------------------------------------------------------------------------------------ containers
def test_params_dict_updated_in_a_loop():
    params = {"W": _w(1.0), "b": jnp.zeros(3)}
    f = lambda v: jnp.tanh(params["W"] @ v + params["b"])
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        for step in range(4):  # a training loop: update, then use
            params["W"] = params["W"] * 0.5 + 0.1 * step
            results.append(_check(f))
    assert not np.allclose(results[0], results[-1])


def test_nested_pytree_of_parameters():
    params = {"layers": [{"W": _w(1.0)}, {"W": _w(0.5)}]}

    def f(v):
        for layer in params["layers"]:
            v = jnp.tanh(layer["W"] @ v)
        return v

    def change():
        params["layers"][1]["W"] = _w(-2.0)

    _twice(f, change)


def test_list_entry_read_by_a_closure():
    weights = [_w(1.0)]
    f = lambda v: jnp.tanh(weights[0] @ v)

    def change():
        weights[0] = _w(3.0)

    _twice(f, change)


def test_attribute_read_by_a_bound_method():
    class Layer:
        def __init__(self):
            self.W = _w(1.0)

        def __call__(self, v):
            return jnp.tanh(self.W @ v)

        def forward(self, v):
            return self(v) * 2.0

    layer = Layer()

    def change():
        layer.W = _w(0.25)

    _twice(layer.forward, change)
    layer.W = _w(1.0)
    _twice(layer, change)  # the object itself as the function


def test_closure_cell_rebound_through_nonlocal():
    def make():
        w = _w(1.0)

        def f(v):
            return jnp.tanh(w @ v)

        def set_w(new):
            nonlocal w
            w = new

        return f, set_w

    f, set_w = make()
    _twice(f, lambda: set_w(_w(-0.5)))


def test_default_argument_replaced():
    def f(v, w=_w(1.0)):
        return jnp.tanh(w @ v)

    def change():
        f.__defaults__ = (_w(4.0),)

    _twice(f, change)


def test_partial_keywords_changed_in_place():
    def base(v, w):
        return jnp.tanh(w @ v)

    f = functools.partial(base, w=_w(1.0))

    def change():
        f.keywords["w"] = _w(-1.0)

    _twice(f, change)


def test_custom_jvp_rule_reading_a_global():
    @jax.custom_jvp
    def g(v):
        return jnp.sin(v)

    @g.defjvp
    def g_jvp(primals, tangents):
        (v,), (t,) = primals, tangents
        return jnp.sin(v), RULE_SCALE * jnp.cos(v) * t

    globals()["RULE_SCALE"] = 1.0
    f = lambda v: g(v) * v[0]

    def change():
        globals()["RULE_SCALE"] = 5.0

    _twice(f, change)


def test_id_reuse_after_garbage_collection():
    # `s = None; s = new` can give the new object the old one's id: identity alone must never prove "unchanged"
    holder = {}
    exec("import jax.numpy as jnp\nS = jnp.ones(3)\ndef f(v):\n    return S * jnp.sin(v)\n", holder)
    f = holder["f"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        for k in range(2, 8):
            old_id = id(holder["S"])
            holder["S"] = None
            gc.collect()
            holder["S"] = jnp.full(3, float(k))
            got = np.asarray(jacx.jacobian(f)(X))
            np.testing.assert_allclose(got, np.asarray(jax.jacfwd(f)(X)), rtol=1e-6)
            del old_id


# ------------------------------------------------------------------------------------------------ other entry points
@pytest.mark.parametrize("entry", [
    lambda f: jacx.gradient(lambda v: jnp.sum(f(v))),
    lambda f: jacx.jacobian_matrix(f),
    lambda f: jacx.jacobian(f, mode="reverse"),
    lambda f: (lambda x: jacx.linearize(f, x).jacobian),
    lambda f: jacx.det(f),
    lambda f: (lambda x: jacx.slogdet(f)(x)[1]),
], ids=["gradient", "jacobian_matrix", "reverse", "linearize", "det", "slogdet"])
def test_every_dense_entry_point_sees_a_dict_update(entry):
    params = {"W": _w(1.0)}
    f = lambda v: jnp.tanh(params["W"] @ v)
    eager = {
        0: lambda: jax.grad(lambda v: jnp.sum(f(v)))(X),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        first = np.asarray(entry(f)(X))
        params["W"] = _w(-0.7)
        second = np.asarray(entry(f)(X))
        params["W"] = _w(1.0)
        again = np.asarray(entry(f)(X))
    assert not np.allclose(first, second)
    np.testing.assert_allclose(first, again, rtol=1e-6)
    del eager


def test_gradient_of_a_rebound_global_matches_jax_grad():
    f = lambda v: jnp.sum(jnp.tanh(W_GLOBAL @ v) ** 2)
    try:
        g1 = np.asarray(jacx.gradient(f)(X))
        np.testing.assert_allclose(g1, jax.grad(f)(X), rtol=1e-6)
        globals()["W_GLOBAL"] = _w(0.3)
        g2 = np.asarray(jacx.gradient(f)(X))
        np.testing.assert_allclose(g2, jax.grad(f)(X), rtol=1e-6)
        assert not np.allclose(g1, g2)
    finally:
        globals()["W_GLOBAL"] = _w(1.0)


def test_several_arguments_and_pytrees_float64(x64):
    params = {"W": _w(1.0).astype(jnp.float64), "b": jnp.zeros(3, jnp.float64)}
    scale = {"s": 1.0}

    def f(v, p):
        return scale["s"] * jnp.tanh(p["W"] @ v + p["b"])

    x = X.astype(jnp.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        for s in (1.0, -3.0):
            scale["s"] = s
            got = jacx.jacobian(f, argnums=(0, 1))(x, params)
            want = jax.jacfwd(f, argnums=(0, 1))(x, params)
            for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
                assert a.dtype == jnp.float64
                np.testing.assert_allclose(a, b, rtol=1e-12)


# ------------------------------------------------------------------------------------------------ speed stays
def test_models_built_by_a_factory_all_stay_compiled():
    from jacx import _autojit

    def make_model(width, seed):
        W = jax.random.normal(jax.random.key(seed), (width, 3))

        def model(v):
            return jnp.tanh(W @ v)

        return model

    jacx.clear_caches()
    with warnings.catch_warnings():
        warnings.simplefilter("error", jacx.AutoJitWarning)  # no fallback may happen
        models = [make_model(4 if i % 2 else 5, i) for i in range(12)]
        for model in models:
            _check(model)
    # two widths: two programs, shared by the twelve models; each model's own weights are arguments
    assert len(_autojit._programs) == 2
    made = [_autojit._made.get(("jacobian", m, 0, "auto", False, None, True, False, None)) for m in models]
    assert all(a is not None and a._guard is not None and not a._eager for a in made)


def test_reading_mutable_state_warns_once_with_the_fix():
    params = {"W": _w(1.0)}
    f = lambda v: jnp.tanh(params["W"] @ v)
    jacx.clear_caches()
    with pytest.warns(jacx.AutoJitWarning, match=r"params.*dict.*argnums=0\)\(x, params\)") as record:
        for _ in range(3):
            jacx.jacobian(f)(X)
    assert len([w for w in record if issubclass(w.category, jacx.AutoJitWarning)]) == 1


def test_global_switch_turns_implicit_compilation_off():
    from jacx import _autojit

    jacx.clear_caches()
    previous = jacx.set_auto_jit(False)
    try:
        _check(lambda v: jnp.sin(v) * v[0])
        assert len(_autojit._programs) == 0
    finally:
        jacx.set_auto_jit(previous)


def test_compiled_programs_do_not_keep_the_first_state_alive():
    import weakref

    jacx.clear_caches()
    W = jnp.ones((30_000, 3))  # large enough to travel as its own argument, not packed with other constants
    ref = weakref.ref(W)
    f = lambda v, W=W: jnp.tanh(W @ v)
    jacx.jacobian(f)(X)
    del f, W
    from jacx import _autojit

    _autojit._made.clear()  # the made function holds f (and so W) by design; the program cache must not
    gc.collect()
    assert ref() is None
    assert len(_autojit._programs) == 1


def test_switching_precision_between_calls():
    # jnp.arange(2.0) is float32 without x64 and float64 with it: the same float32 input gives other programs
    f = lambda v: jnp.sin(v) * jnp.arange(1.0, 3.0)
    x = np.array([0.3, 0.7])
    first = jacx.jacobian(f)(jnp.asarray(x, jnp.float32))
    with jax.enable_x64(True):
        x64 = jnp.asarray(x, jnp.float32)  # same input dtype, other precision mode
        got = jacx.jacobian(f)(x64)
        want = jax.jacfwd(f)(x64)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert first.dtype == jnp.float32


def test_refreshed_guard_never_skips_a_new_key():
    # a dict of keyword arguments grows: its size guard is structural, so the new entry is analysed, not assumed
    def base(v, **kw):
        return sum(jnp.sin(w * v) for w in kw.values())

    f = functools.partial(base, a=jnp.array(1.0))
    _check(f)
    f.keywords["b"] = jnp.array(3.0)
    _check(f)
    f.keywords["b"] = jnp.array(-2.0)  # a value slot: refreshed without analysis, still current
    _check(f)
