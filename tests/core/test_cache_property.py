"""Property: for functions reading state through random access paths, changed at random, jacx is never stale.

Hypothesis draws where the state lives (a module global, a closure cell, a default argument, an object read by a
bound method), the containers between the function and the number that matters (dicts, lists, tuples, attribute
namespaces), how many helper functions the read goes through, what the leaf is (a JAX array, a NumPy array, a
Python float) and where it is changed (the root rebound, a container entry replaced, a NumPy array written in
place). After every change jacx's Jacobian must equal eager ``jax.jacfwd`` at that moment.
"""

from __future__ import annotations

import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx

X = jnp.array([0.4, -1.2, 0.9])
STEPS = ("dict", "list", "tuple", "attr")


def _leaf(kind: str, value: float):
    base = np.array([1.0, -2.0, 0.5]) * value
    if kind == "jax":
        return jnp.asarray(base, dtype=jnp.float32)
    if kind == "numpy":
        return base.astype(np.float32)
    return float(value)


def _build(path: tuple, leaf):
    if not path:
        return leaf
    inner = _build(path[1:], leaf)
    step = path[0]
    if step == "dict":
        return {"k": inner, "other": 1.0}
    if step == "list":
        return [inner, 2.0]
    if step == "tuple":
        return (inner, 3.0)
    return types.SimpleNamespace(a=inner, b=4.0)


def _access(path: tuple) -> str:
    return "".join({"dict": "['k']", "list": "[0]", "tuple": "[0]", "attr": ".a"}[s] for s in path)


def _get_child(container, step):
    return container.a if step == "attr" else container["k"] if step == "dict" else container[0]


def _set_child(container, step, value) -> bool:
    if step == "tuple":
        return False
    if step == "attr":
        container.a = value
    elif step == "dict":
        container["k"] = value
    else:
        container[0] = value
    return True


def _make(where: str, path: tuple, depth: int, state):
    """The function under test, and a setter that rebinds its root state."""
    read = f"S{_access(path)}"
    helpers = [f"def h0(v):\n    return jnp.asarray({read}, dtype=v.dtype)\n"]
    helpers += [f"def h{i}(v):\n    return h{i - 1}(v) * 1.0\n" for i in range(1, depth + 1)]
    body = f"def f(v):\n    return jnp.tanh(h{depth}(v) * v) * v[0]\n"
    ns: dict = {"jnp": jnp}
    if where == "global":
        ns["S"] = state
        exec("".join(helpers) + body, ns)
        return ns["f"], lambda new: ns.__setitem__("S", new)
    if where == "cell":
        src = "def make(S):\n" + "".join("    " + line + "\n" for part in helpers + [body]
                                         for line in part.splitlines())
        src += "    def set_s(new):\n        nonlocal S\n        S = new\n    return f, set_s\n"
        exec(src, ns)
        return ns["make"](state)
    if where == "default":
        helpers[0] = f"def h0(v, S=None):\n    return jnp.asarray({read}, dtype=v.dtype)\n"
        exec("".join(helpers) + body, ns)
        ns["h0"].__defaults__ = (state,)
        return ns["f"], lambda new: setattr(ns["h0"], "__defaults__", (new,))
    # an object whose bound method reads an attribute
    cls = type("Holder", (), {})
    exec(f"def method(self, v):\n    return jnp.tanh(jnp.asarray(self.S{_access(path)}, dtype=v.dtype) * v) * v[0]\n",
         ns)
    cls.method = ns["method"]
    obj = cls()
    obj.S = state
    return obj.method, lambda new: setattr(obj, "S", new)


@settings(max_examples=40, deadline=None)
@given(
    where=st.sampled_from(["global", "cell", "default", "object"]),
    path=st.lists(st.sampled_from(STEPS), max_size=3).map(tuple),
    depth=st.integers(0, 2),
    leaf_kind=st.sampled_from(["jax", "numpy", "float"]),
    changes=st.lists(st.tuples(st.integers(0, 3), st.floats(-3, 3, allow_nan=False).filter(lambda v: abs(v) > .1)),
                     min_size=1, max_size=3),
)
def test_never_stale(where, path, depth, leaf_kind, changes):
    state = _build(path, _leaf(leaf_kind, 1.0))
    f, set_root = _make(where, path, depth, state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jacx.AutoJitWarning)
        np.testing.assert_allclose(jacx.jacobian(f)(X), jax.jacfwd(f)(X), rtol=1e-5, atol=1e-6)
        for level, value in changes:
            level = min(level, len(path))
            new_leaf = _leaf(leaf_kind, value)
            if level == len(path) and leaf_kind == "numpy" and path and path[-1] != "tuple" and value > 0:
                # write into the NumPy array itself
                container = state
                for step in path:
                    container = _get_child(container, step)
                container[...] = new_leaf
            else:
                # replace the entry at `level` (or, below a tuple, the nearest mutable container above it)
                while level > 0:
                    parent = state
                    for step in path[: level - 1]:
                        parent = _get_child(parent, step)
                    if _set_child(parent, path[level - 1], _build(path[level:], new_leaf)):
                        break
                    level -= 1
                if level == 0:
                    state = _build(path, new_leaf)
                    set_root(state)
            np.testing.assert_allclose(jacx.jacobian(f)(X), jax.jacfwd(f)(X), rtol=1e-5, atol=1e-6)
