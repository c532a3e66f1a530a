"""A user's function as a program: trace it now, key the program by its structure, run it with new constants.

Tracing ``f`` with :func:`jax.make_jaxpr` captures everything ``f`` computes at this moment: the sequence of
primitives (with the Python control flow and Python numbers it took) and the arrays it read (the jaxpr's
constants). Two traces with the same *structure* -- primitives, their parameters, the wiring, the shapes and
dtypes -- compute the same function of (inputs, constants). So a compiled program can be reused whenever the
structure is equal, with the new constants (and the new values of scalar float literals, see below) passed in as
arguments: rebinding a weight matrix, updating a parameter dict or changing a NumPy array in place never needs a
recompile, and never gives a stale answer.

Keys compare everything by value except objects that cannot be compared cheaply (constants of nested programs,
the functions behind ``custom_jvp``/``custom_vjp`` rules), which are compared by identity while the key keeps them
alive; identity there errs towards recompiling, never towards reuse. A ``custom_jvp``/``custom_vjp`` rule is
keyed by the user's rule functions it reaches, each with its :mod:`jacx._guards` guard, so a rule that reads
changed state never reuses a program compiled for the old one.

Scalar floating-point literals (a Python float captured by ``f``, e.g. a learning rate or a scale) are lifted out
of the key and passed as arguments too, so changing such a number does not recompile.
"""

from __future__ import annotations

import functools
import hashlib
import types
from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as _core  # Literal, Jaxpr, ClosedJaxpr: the jaxpr data model
from jax.extend import linear_util as _lu

from ._errors import JacxInternalError
from ._guards import Guard, Ident, analyze

__all__ = ["Traced", "trace", "evaluator"]

_SMALL_ARRAY = 1024  # parameters holding arrays up to this size are keyed by value, larger ones by identity
_PACK_LIMIT = 1 << 12  # constants up to this many entries travel packed into one array per dtype (larger ones
# would be copied into the pack on every trace; they travel as they are)
_PACK_MIN_COUNT = 8  # ... and only when there are more constants than this


class Traced:
    """One trace of a function: its jaxpr, constants, lifted literals, output tree and structural key."""

    __slots__ = ("jaxpr", "consts", "literals", "lifted", "out_tree", "key", "in_avals", "layout")

    def __init__(self, jaxpr: Any, consts: Any, literals: dict, lifted: dict, out_tree: Any, key: Hashable,
                 in_avals: tuple, layout: tuple) -> None:
        self.layout = layout
        self.jaxpr = jaxpr
        self.consts = consts
        self.literals = literals
        self.lifted = lifted
        self.out_tree = out_tree
        self.key = key
        self.in_avals = in_avals

    def skeleton(self) -> Traced:
        """This trace without its constants and literal values (what a compiled program needs to keep)."""
        return Traced(self.jaxpr, None, None, self.lifted, self.out_tree, self.key, self.in_avals, self.layout)


def trace(f: Callable, leaves: list, in_tree: Any) -> Traced:
    """Trace ``f`` at the arguments ``tree_unflatten(in_tree, leaves)`` (``(args, kwargs)``), as it is now.

    >>> import jax.numpy as jnp, jax
    >>> x = jnp.ones(3)
    >>> tree = jax.tree_util.tree_structure(((x,), {}))
    >>> a = trace(lambda v: 2.0 * jnp.sin(v), [x], tree)
    >>> b = trace(lambda v: 3.0 * jnp.sin(v), [x], tree)   # same program, another captured number
    >>> a.key == b.key, a.literals["float32"].tolist(), b.literals["float32"].tolist()
    (True, [2.0], [3.0])
    """

    def flat_f(*flat: Any) -> Any:  # a new function object each time: JAX caches traces per function
        args, kwargs = jax.tree_util.tree_unflatten(in_tree, flat)
        return f(*args, **kwargs)

    closed, out_shape = jax.make_jaxpr(flat_f, return_shape=True)(*leaves)
    out_tree = jax.tree_util.tree_structure(out_shape)
    literals: list = []
    lifted: dict = {}
    body = _structure(closed.jaxpr, literals, lifted)
    in_avals = tuple((v.aval.shape, v.aval.dtype) for v in closed.jaxpr.invars)
    key = (body, out_tree, tuple((v.aval.shape, v.aval.dtype, v.aval.weak_type) for v in closed.jaxpr.constvars))
    # one array of literal values per dtype (a few arguments, not hundreds), indexed inside the program
    packed: dict = {}
    for (dtype, _) in lifted.values():
        packed.setdefault(np.dtype(dtype).name, [])
    slots = {}
    for pos, (dtype, k) in sorted(lifted.items(), key=lambda item: item[1][1]):
        name = np.dtype(dtype).name
        slots[pos] = (name, len(packed[name]))
        packed[name].append(literals[k])
    arrays = {name: np.asarray(vals, dtype=name) for name, vals in packed.items()}  # sent with the call
    consts, layout = _pack_consts(closed.consts)
    return Traced(closed.jaxpr, consts, arrays, slots, out_tree, (key, layout), in_avals, layout)


def _pack_consts(consts: list) -> tuple[tuple[dict, list], tuple]:
    """Small constants packed into one flat array per dtype (each argument of a compiled call costs dispatch
    time, and a flow has hundreds of small constants); large ones and tracers travel as they are."""
    groups: dict = {}
    loose: list = []
    layout = []
    few = len(consts) <= _PACK_MIN_COUNT  # a handful of arguments costs less than packing them
    for c in consts:
        size = int(np.size(c))
        if few or isinstance(c, jax.core.Tracer) or size > _PACK_LIMIT or not isinstance(c.dtype, np.dtype):
            # tracers, large arrays and extended dtypes (PRNG keys) travel as they are
            layout.append(("loose", len(loose)))
            loose.append(c)
            continue
        name = np.dtype(c.dtype).name
        parts = groups.setdefault(name, [])
        offset = sum(int(np.size(q)) for q in parts)
        layout.append(("packed", name, offset, tuple(np.shape(c))))
        parts.append(c)
    packed = {}
    for name, parts in groups.items():
        if all(isinstance(q, np.ndarray) or _on_host(q) for q in parts):  # pack on the host: no device dispatch
            packed[name] = np.concatenate([np.ravel(np.asarray(q)) for q in parts]).astype(name, copy=False)
        else:
            packed[name] = jnp.concatenate([jnp.ravel(jnp.asarray(q)) for q in parts])
    return (packed, loose), tuple(layout)


def _on_host(a: Any) -> bool:
    """A JAX array whose buffer lives in host memory (CPU), so NumPy can read it without a transfer."""
    try:
        return isinstance(a, jax.Array) and all(d.platform == "cpu" for d in a.devices())
    except Exception:  # a deleted or not yet materialised array
        return False


def _unpack_consts(consts: tuple[dict, list], layout: tuple) -> list:
    packed, loose = consts
    out = []
    for entry in layout:
        if entry[0] == "loose":
            out.append(loose[entry[1]])
        else:
            _, name, offset, shape = entry
            size = int(np.prod(shape, dtype=np.int64))
            out.append(jax.lax.slice(packed[name], (offset,), (offset + size,)).reshape(shape))
    return out


def evaluator(traced: Traced, in_tree: Any, consts: Any, literals: Any) -> Callable:
    """A function with the signature of the traced ``f`` that computes the traced program with these constants
    and literals; JAX transformations (jvp, vjp, vmap) apply to it as they would to ``f``."""
    jaxpr, lifted, out_tree, in_avals = traced.jaxpr, traced.lifted, traced.out_tree, traced.in_avals
    const_values = _unpack_consts(consts, traced.layout)

    def fun(*args: Any, **kwargs: Any) -> Any:
        leaves, tree = jax.tree_util.tree_flatten((args, kwargs))
        got = tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)
        if tree != in_tree or got != in_avals:
            raise JacxInternalError(
                f"jacx called a traced function with arguments of another layout ({got} instead of {in_avals}). "
                "This is a bug in jacx; please report it. Meanwhile, jacx.set_auto_jit(False) avoids it."
            )
        out = _run(jaxpr, lifted, const_values, literals, leaves)
        return jax.tree_util.tree_unflatten(out_tree, out)

    # a single output made by a final reshape: the same numbers before it (in row-major order), for callers that
    # flatten the result anyway (a compiled loop is faster on the computation's own shape than on a reshaped one)
    out_var = jaxpr.outvars[0] if len(jaxpr.outvars) == 1 else None
    last = jaxpr.eqns[-1] if jaxpr.eqns else None
    if (last is not None and out_var is not None and last.primitive.name == "reshape"
            and last.outvars[0] is out_var and last.params.get("dimensions") is None
            and not isinstance(last.invars[0], _core.Literal)):
        before = last.invars[0]
        inner = jaxpr.replace(eqns=jaxpr.eqns[:-1], outvars=[before])

        def unreshaped(*args: Any) -> Any:
            leaves = jax.tree_util.tree_leaves(args)
            return _run(inner, lifted, const_values, literals, leaves)[0]

        fun.unreshaped = unreshaped  # type: ignore[attr-defined]
    return fun


def _run(jaxpr: Any, lifted: dict, consts: list, literals: list, args: list) -> list:
    env: dict = {}

    def read(v: Any) -> Any:
        return v.val if isinstance(v, _core.Literal) else env[v]

    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x
    # the mesh in effect now, not the one recorded while tracing: the program may be replayed inside shard_map
    # (jacx's own device split), where the mesh's axes are manual
    mesh = jax.sharding.get_abstract_mesh()
    for i, eqn in enumerate(jaxpr.eqns):
        invals = [literals[lifted[(i, j)][0]][lifted[(i, j)][1]] if (i, j) in lifted else read(v)
                  for j, v in enumerate(eqn.invars)]
        params = eqn.primitive.get_bind_params(eqn.params)
        with eqn.ctx.manager, jax.sharding.use_abstract_mesh(mesh):
            ans = eqn.primitive.bind(*invals, **params)
        if eqn.primitive.multiple_results:
            for v, x in zip(eqn.outvars, ans):
                env[v] = x
        else:
            env[eqn.outvars[0]] = ans
    return [read(v) for v in jaxpr.outvars]


# ------------------------------------------------------------------------------------------------ structure keys
def _literal_key(lit: Any) -> Hashable:
    val = np.asarray(lit.val)
    return ("lit", lit.aval, val.dtype.str, val.tobytes())


def _structure(jaxpr: Any, literals: list | None = None, lifted: dict | None = None) -> tuple:
    """The structure of ``jaxpr`` as a hashable tuple. With ``literals``/``lifted`` given, scalar float literals of
    the top level are left out of the key and collected there instead (their values become arguments)."""
    ids: dict = {}

    def var(v: Any) -> Any:
        return ids.setdefault(v, len(ids))

    for v in jaxpr.constvars:
        var(v)
    for v in jaxpr.invars:
        var(v)
    parts: list = [tuple(v.aval for v in jaxpr.constvars), tuple(v.aval for v in jaxpr.invars)]
    for i, eqn in enumerate(jaxpr.eqns):
        ins = []
        for j, v in enumerate(eqn.invars):
            if isinstance(v, _core.Literal):
                aval = v.aval
                if (lifted is not None and getattr(aval, "shape", None) == ()
                        and jnp.issubdtype(aval.dtype, jnp.inexact)):
                    lifted[(i, j)] = (aval.dtype, len(literals))
                    literals.append(np.asarray(v.val, dtype=aval.dtype))
                    ins.append(("arg", aval))
                else:
                    ins.append(_literal_key(v))
            else:
                ins.append(var(v))
        outs = tuple((var(v), v.aval) for v in eqn.outvars)
        parts.append((eqn.primitive, tuple(ins), outs, _freeze(eqn.params), _freeze(eqn.effects)))
    parts.append(tuple(_literal_key(v) if isinstance(v, _core.Literal) else var(v) for v in jaxpr.outvars))
    return tuple(parts)


def _freeze(value: Any) -> Hashable:
    """A hashable, strictly comparing stand-in for a jaxpr parameter."""
    if isinstance(value, _core.ClosedJaxpr):
        return ("closed", _structure(value.jaxpr), tuple(_const_key(c) for c in value.consts))
    if isinstance(value, _core.Jaxpr):
        return ("jaxpr", _structure(value))
    if isinstance(value, (_lu.WrappedFun, types.FunctionType, types.MethodType, functools.partial)):
        return ("rule", _rule_token(value))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, (dict,)):
        return ("dict", tuple(sorted(((k, _freeze(v)) for k, v in value.items()), key=lambda kv: repr(kv[0]))))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_freeze(v) for v in value))
    if isinstance(value, np.ndarray):
        if value.size <= _SMALL_ARRAY:
            return ("array", value.dtype.str, value.shape, value.tobytes())
        return Ident(value)
    if isinstance(value, (float, complex, np.floating, np.complexfloating)):
        return (type(value), np.asarray(value).tobytes())  # exact bits: nan equals nan, -0.0 differs from 0.0
    try:
        hash(value)
    except TypeError:
        return Ident(value)
    return (type(value), value)


def _const_key(c: Any) -> Hashable:
    """A nested program's constant: JAX arrays are immutable (identity, kept alive, suffices); a NumPy array can be
    changed in place behind the same identity, so it is keyed by a digest of its bytes."""
    if isinstance(c, np.ndarray):
        return ("ndarray", c.dtype.str, c.shape, hashlib.blake2b(np.ascontiguousarray(c).tobytes(), digest_size=16)
                .digest())
    return Ident(c)


def _rule_token(rule: Any) -> Hashable:
    """What a custom differentiation rule depends on: the custom_jvp/custom_vjp objects and the user's rule
    functions it reaches (each with its guard). A rule we cannot see through gets a key that never matches."""
    found: list = []
    seen: set[int] = set()

    def walk(obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > 16:
            return
        seen.add(id(obj))
        if isinstance(obj, _lu.WrappedFun):
            walk(obj.f, depth + 1)
            for t in obj.transforms:
                walk(t, depth + 1)
        elif isinstance(obj, (jax.custom_jvp, jax.custom_vjp)):
            found.append(Ident(obj))
            for name in ("fun", "jvp", "fwd", "bwd"):
                if hasattr(obj, name):
                    walk(getattr(obj, name), depth + 1)
        elif isinstance(obj, types.FunctionType) and obj.__globals__.get("__name__", "").startswith("jax."):
            for cell in obj.__closure__ or ():  # JAX's own wrappers: look inside
                try:
                    walk(cell.cell_contents, depth + 1)
                except ValueError:
                    pass
        elif isinstance(obj, (tuple, list)):
            for item in obj:
                walk(item, depth + 1)
        elif callable(obj):  # the user's rule (a function, a bound method, an object): valid while its guard holds
            guard = analyze(obj)
            found.append((Ident(obj), guard.values() if isinstance(guard, Guard) else Ident(object())))

    walk(rule, 0)
    return tuple(found)
