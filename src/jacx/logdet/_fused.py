"""One pass that computes ``g(v)`` and the products ``J_g(v) @ seeds`` together, sharing the weights' reads.

``jax.linearize`` followed by ``vmap`` over the probe columns evaluates ``g`` once for the primal and once more
(batched) for the tangents: every weight matrix is read twice, and probes that are known to be zero where a layer
reads them (a coupling's conditioner never sees the columns it transforms) still cost a full pass.  Here the
jaxpr of ``g`` is walked once with the primal and a *column-sparse* batch of tangents side by side:

* a ``dot_general`` whose one operand carries tangents multiplies the weight by ``[primal, tangents...]`` in one
  product, so the weight is read once for all of them;
* each value keeps only the probe columns that can be nonzero in it; while the tangents are still the concrete
  probes (before they meet the function's arrays) the structural operations (gathers, slices, reshapes,
  concatenations...) are evaluated at trace time, so a probe that a layer never reads is dropped there and costs
  nothing further;
* every other operation uses JAX's own JVP rule (custom JVPs included), batched over the live columns.

The result equals ``(g(v), J_g(v) @ seeds)`` exactly (same rules, same arithmetic up to the order of sums).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as _core

__all__ = ["primal_and_products", "primal_and_compressed"]

_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call"})
# tangent_out = prim(tangent_in, *other operands): linear in the first operand alone, the others are indices/shapes
_LINEAR_FIRST = frozenset({
    "gather", "slice", "reshape", "transpose", "squeeze", "expand_dims", "broadcast_in_dim", "convert_element_type",
    "rev", "reduce_sum", "copy", "copy_p", "neg", "dynamic_slice", "real", "imag", "split",
})
# tangent_out = prim(tangents...) with a zero tangent for operands that carry none
_LINEAR_ALL = frozenset({"concatenate", "stack", "add", "sub", "add_any"})


class _Tan:
    """Tangents of one value: ``val[i]`` is the tangent along probe column ``cols[i]``; ``concrete`` when ``val``
    is a NumPy array known at trace time."""

    __slots__ = ("cols", "val", "concrete")

    def __init__(self, cols: tuple[int, ...], val: Any, concrete: bool) -> None:
        self.cols, self.val, self.concrete = cols, val, concrete


def _is_concrete(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic, int, float, bool)) or (
        isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer))


def _inexact(aval: Any) -> bool:
    return jnp.issubdtype(getattr(aval, "dtype", np.float32), jnp.inexact)


def _expand(t: _Tan | None, cols: tuple[int, ...], aval: Any) -> Any:
    """``t`` on exactly ``cols`` (zeros for the columns it lacks)."""
    shape = (len(cols), *aval.shape)
    if t is None:
        return np.zeros(shape, aval.dtype)
    if t.cols == cols:
        return t.val
    where = {c: i for i, c in enumerate(t.cols)}
    if t.concrete:
        out = np.zeros(shape, aval.dtype)
        for i, c in enumerate(cols):
            if c in where:
                out[i] = t.val[where[c]]
        return out
    # one gather from the live columns and a row of zeros (not a slice per column: n probes would mean n ops)
    padded = jnp.concatenate([t.val, jnp.zeros((1, *aval.shape), t.val.dtype)])
    return padded[np.asarray([where.get(c, len(t.cols)) for c in cols])]


def _pruned(cols: tuple[int, ...], val: np.ndarray) -> _Tan | None:
    live = [i for i in range(len(cols)) if np.any(val[i])]
    if not live:
        return None
    if len(live) == len(cols):
        return _Tan(cols, val, True)
    return _Tan(tuple(cols[i] for i in live), val[live], True)


_ELEMENTWISE = frozenset({
    "add", "sub", "mul", "div", "neg", "exp", "exp2", "log", "log1p", "expm1", "tanh", "tan", "sin", "cos", "sqrt",
    "rsqrt", "logistic", "abs", "sign", "max", "min", "pow", "integer_pow", "square", "select_n", "erf",
    "convert_element_type", "copy", "copy_p", "add_any", "atan2", "asinh", "acosh", "atanh", "sinh", "cosh",
})
_MAX_FOLD = 1 << 16  # constant operations with outputs up to this size are evaluated while tracing (indices)
_MAX_MASK = 1 << 22  # live-entry masks (columns x entries) larger than this are not tracked: everything is live


def _back(eqn: Any, outs: list) -> list | None:
    """Masks ``(k, *shape)`` of the inputs' entries that reach the live entries ``outs`` of the outputs, for the
    structural and elementwise operations; ``None`` when unknown (then every entry of a live column is live)."""
    name, params = eqn.primitive.name, eqn.params
    shapes = [tuple(getattr(a.aval, "shape", ())) for a in eqn.invars]
    if any(o is None for o in outs):
        return None
    out = outs[0]
    k = out.shape[0]
    if name in _ELEMENTWISE:
        return [out if sh == out.shape[1:] else None for sh in shapes]
    if name in ("reshape", "squeeze", "expand_dims"):
        return [out.reshape((k, *shapes[0]))] + [None] * (len(shapes) - 1)
    if name == "transpose":
        perm = params["permutation"]
        return [out.transpose((0, *(1 + int(i) for i in np.argsort(perm))))]
    if name == "slice":
        m = np.zeros((k, *shapes[0]), bool)
        strides = params["strides"] or (1,) * len(shapes[0])
        m[(slice(None), *(slice(a, b, c) for a, b, c in zip(params["start_indices"], params["limit_indices"], strides)))] = out
        return [m]
    if name == "concatenate":
        d = params["dimension"] + 1
        cuts = np.cumsum([sh[d - 1] for sh in shapes])[:-1]
        return list(np.split(out, cuts, axis=d))
    if name == "stack":
        return [np.take(out, i, axis=params["axis"] + 1) for i in range(len(shapes))]
    if name == "split":
        return [np.concatenate(outs, axis=params["axis"] + 1)]
    if name == "broadcast_in_dim":
        dims = tuple(params["broadcast_dimensions"])
        rest = tuple(1 + i for i in range(out.ndim - 1) if i not in dims)
        m = out.any(axis=rest) if rest else out
        shape = shapes[0]
        for j, size in enumerate(shape):
            if size == 1 and m.shape[1 + j] != 1:
                m = m.any(axis=1 + j, keepdims=True)
        return [m.reshape((k, *shape))] + [None] * (len(shapes) - 1)
    if name == "reduce_sum":
        axes = tuple(params["axes"])
        shape = shapes[0]
        expanded = np.expand_dims(out, tuple(1 + a for a in axes)) if axes else out
        return [np.broadcast_to(expanded, (k, *shape))]
    return None


def _live(jaxpr: Any, out_live: np.ndarray | None) -> dict | None:
    """For each variable of ``jaxpr`` the boolean mask ``(k, *shape)`` of the tangent entries that can reach the
    wanted entries ``out_live`` of its (single) output; ``None`` when not tracked."""
    if out_live is None or len(jaxpr.outvars) != 1 or isinstance(jaxpr.outvars[0], _core.Literal):
        return None
    k = out_live.shape[0]
    if k * max(1, int(np.prod(getattr(jaxpr.outvars[0].aval, "shape", ())))) > _MAX_MASK:
        return None
    live: dict = {jaxpr.outvars[0]: out_live}

    def merge(var: Any, m: np.ndarray) -> None:
        live[var] = m if var not in live else (live[var] | m)

    for eqn in reversed(jaxpr.eqns):
        outs = [live.get(v) if not isinstance(v, _core.DropVar) else None for v in eqn.outvars]
        if all(o is None or not o.any() for o in outs):
            continue
        sizes = [int(np.prod(getattr(a.aval, "shape", ()))) for a in eqn.invars]
        if k * max(sizes, default=1) > _MAX_MASK:
            return None
        if eqn.primitive.name in ("split", "stack", "concatenate"):
            outs = [o if o is not None else np.zeros((k, *v.aval.shape), bool) for o, v in zip(outs, eqn.outvars)]
        ins = _back(eqn, outs) if len(outs) == 1 or eqn.primitive.name == "split" else None
        cols = np.zeros(k, bool)
        for o in outs:
            if o is not None:
                cols |= o.reshape(k, -1).any(axis=1)
        for i, a in enumerate(eqn.invars):
            if isinstance(a, _core.Literal) or not _inexact(a.aval):
                continue
            m = ins[i] if ins is not None and ins[i] is not None else None
            if m is None:
                m = np.broadcast_to(cols.reshape((k,) + (1,) * len(a.aval.shape)), (k, *a.aval.shape))
            merge(a, np.asarray(m, bool))
    return live


def _apply(prim: Any, args: Any, params: dict) -> Any:
    """``prim`` applied to ``args`` with an equation's params (as ``jax.core.eval_jaxpr`` does it: primitives
    such as ``custom_jvp_call`` keep functions among their params)."""
    return prim.bind(*args, **prim.get_bind_params(params))


def _bind(prim: Any, args: list, params: dict) -> list:
    out = _apply(prim, args, params)
    return list(out) if prim.multiple_results else [out]


def _restrict(t: _Tan | None, keep: set) -> _Tan | None:
    if t is None or set(t.cols) <= keep:
        return t
    idx = [i for i, c in enumerate(t.cols) if c in keep]
    if not idx:
        return None
    return _Tan(tuple(t.cols[i] for i in idx), t.val[np.asarray(idx)] if t.concrete else t.val[jnp.asarray(idx)],
                t.concrete)


def _eval(jaxpr: Any, consts: list, args: list, tans: list, live: dict | None = None) -> tuple[list, list]:
    env: dict = {}
    tenv: dict = {}

    def read(a: Any) -> Any:
        return a.val if isinstance(a, _core.Literal) else env[a]

    def tread(a: Any) -> _Tan | None:
        return None if isinstance(a, _core.Literal) else tenv.get(a)

    for var, val in zip(jaxpr.constvars, consts):
        env[var] = val
    for var, val, t in zip(jaxpr.invars, args, tans):
        env[var] = val
        if t is not None:
            tenv[var] = t
    for eqn in jaxpr.eqns:
        prim, params = eqn.primitive, eqn.params
        vals = [read(a) for a in eqn.invars]
        ts = [tread(a) for a in eqn.invars]
        if live is not None and any(t is not None for t in ts):
            # only the probe columns some live output entry needs (the rest never reach a wanted entry)
            keep = set()
            for v in eqn.outvars:
                m = live.get(v)
                if m is not None:
                    keep.update(int(c) for c in np.flatnonzero(m.reshape(m.shape[0], -1).any(axis=1)))
            ts = [_restrict(t, keep) for t in ts]
        if all(t is None for t in ts):
            if (vals and all(_is_concrete(v) for v in vals) and prim.name not in _CALLS and not eqn.effects
                    and sum(int(np.prod(getattr(o.aval, "shape", ()))) for o in eqn.outvars) <= _MAX_FOLD):
                with jax.ensure_compile_time_eval():  # index arithmetic on constants: keep it concrete
                    outs = _bind(prim, vals, params)
            else:
                outs = _bind(prim, vals, params)
            out_ts = [None] * len(eqn.outvars)
        elif prim.name in _CALLS and "jaxpr" in params:
            closed = params["jaxpr"]
            outs, out_ts = _eval(closed.jaxpr, list(closed.consts), vals, ts)
        else:
            outs, out_ts = _rule(prim, params, eqn, vals, ts)
        for var, val, t in zip(eqn.outvars, outs, out_ts):
            if not isinstance(var, _core.DropVar):
                env[var] = val
                if t is not None and _inexact(var.aval):
                    tenv[var] = t
    return [read(a) for a in jaxpr.outvars], [tread(a) for a in jaxpr.outvars]


def _rule(prim: Any, params: dict, eqn: Any, vals: list, ts: list) -> tuple[list, list]:
    carrying = [i for i, t in enumerate(ts) if t is not None]
    cols = tuple(sorted(set().union(*(ts[i].cols for i in carrying))))
    avals = [a.aval for a in eqn.invars]
    name = prim.name
    # the probes themselves, moved around by structural operations: evaluate now and drop the columns gone to zero
    if all(ts[i].concrete for i in carrying) and (
        (name in _LINEAR_FIRST and carrying == [0] and all(_is_concrete(v) for v in vals[1:]))
        or name in _LINEAR_ALL
    ):
        try:
            with jax.ensure_compile_time_eval():
                if name in _LINEAR_FIRST:
                    val = jax.vmap(lambda t: _apply(prim, [t, *vals[1:]], params))(ts[0].val)
                else:
                    tangents = [_expand(t, cols, a) for t, a in zip(ts, avals)]
                    val = jax.vmap(lambda *u: _apply(prim, u, params))(*tangents)
            vals_t = [np.asarray(u) for u in (val if prim.multiple_results else [val])]
        except Exception:  # noqa: BLE001 - not evaluable now: take the general route below
            vals_t = None
        if vals_t is not None:
            out_cols = ts[0].cols if name in _LINEAR_FIRST else cols
            return _bind(prim, vals, params), [_pruned(out_cols, u) for u in vals_t]
    if name == "dot_general" and len(carrying) == 1:
        i = carrying[0]
        stacked = jnp.concatenate([jnp.asarray(vals[i])[None], jnp.asarray(ts[i].val, avals[i].dtype)])

        def product(u: Any) -> Any:
            args = list(vals)
            args[i] = u
            return _apply(prim, args, params)

        both = jax.vmap(product)(stacked)  # one product for the primal and every live column
        return [both[0]], [_Tan(ts[i].cols, both[1:], False)]
    tangents = [_expand(ts[i], cols, avals[i]) for i in carrying]

    def f(*moving: Any) -> Any:
        args = list(vals)
        for i, m in zip(carrying, moving):
            args[i] = m
        return _apply(prim, args, params)

    primals = [vals[i] for i in carrying]
    outs = _bind(prim, vals, params)
    out_t = jax.vmap(lambda *u: jax.jvp(f, primals, list(u))[1])(*tangents)
    out_t = list(out_t) if prim.multiple_results else [out_t]
    return outs, [_Tan(cols, t, False) for t in out_t]


def primal_and_products(g: Callable[[jax.Array], jax.Array], v: jax.Array, seeds: np.ndarray,
                        wanted: np.ndarray | None = None) -> tuple[jax.Array, list[Any]]:
    """``(g(v), columns)`` where ``columns[c]`` is ``J_g(v) @ seeds[:, c]``, or ``None`` when it is known to be 0.
    (:func:`primal_and_compressed` gives them as one ``(n, k)`` array.)

    ``wanted`` (boolean ``(k, n)``), when given, says which entries of each column the caller will read: the
    others may come back wrong (work that only feeds them is skipped).

    >>> import numpy as np, jax.numpy as jnp
    >>> y, cols = primal_and_products(lambda v: jnp.array([2 * v[0], v[0] * v[1]]), jnp.array([1.0, 3.0]),
    ...                               np.eye(2))
    >>> y.tolist(), [c.tolist() for c in cols]
    ([2.0, 3.0], [[2.0, 3.0], [0.0, 1.0]])
    """
    k = seeds.shape[1]
    y, t = _run(g, v, seeds, wanted)
    columns: list[Any] = [None] * k
    if t is not None:
        for i, c in enumerate(t.cols):
            columns[c] = t.val[i]
    return y, columns


def primal_and_compressed(g: Callable[[jax.Array], jax.Array], v: jax.Array, seeds: np.ndarray,
                          wanted: np.ndarray | None = None) -> tuple[jax.Array, jax.Array]:
    """``(g(v), J_g(v) @ seeds)``, the products as one ``(n, k)`` array (zeros where known to be 0).

    >>> import numpy as np, jax.numpy as jnp
    >>> y, c = primal_and_compressed(lambda v: v ** 2, jnp.array([1.0, 3.0]), np.ones((2, 1)))
    >>> c.tolist()
    [[2.0], [6.0]]
    """
    k = seeds.shape[1]
    y, t = _run(g, v, seeds, wanted)
    shape = (k, *jnp.shape(y))
    if t is None:
        return y, jnp.zeros(shape, y.dtype).reshape(k, -1).T
    val = _expand(t, tuple(range(k)), jax.ShapeDtypeStruct(jnp.shape(y), y.dtype))
    return y, jnp.asarray(val, y.dtype).reshape(k, -1).T


def _run(g: Callable[[jax.Array], jax.Array], v: jax.Array, seeds: np.ndarray,
         wanted: np.ndarray | None) -> tuple[jax.Array, _Tan | None]:
    closed = jax.make_jaxpr(g)(v)
    k = seeds.shape[1]
    seed = _pruned(tuple(range(k)), np.ascontiguousarray(np.asarray(seeds, v.dtype).T))
    live = _live(closed.jaxpr, None if wanted is None else np.asarray(wanted, bool))
    outs, out_ts = _eval(closed.jaxpr, list(closed.consts), [v], [seed], live)
    return outs[0], out_ts[0]
