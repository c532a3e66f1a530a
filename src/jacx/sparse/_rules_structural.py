"""Sparsity rules for data-movement primitives, reductions, cumulative ops, sorting, gather and scatter.

Data movement is handled exactly and without per-primitive index arithmetic: the primitive itself is evaluated
on integer arrays that hold, in place of the data, the row number of each element in the stacked operand
patterns (``-1`` for "no dependence").  The result says, for every output element, which row it copies.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax import lax

from jacx.sparse import _pattern as pt
from jacx.sparse._detect import Context, Val, dense_fallback, register, size_of

_MOVES = ["reshape", "transpose", "squeeze", "broadcast_in_dim", "slice", "rev", "pad", "concatenate", "split", "gather", "dynamic_slice", "dynamic_update_slice", "select_n", "stack", "unstack", "tile"]
# operands that carry data (the others are indices/predicates that must be known constants)
_DATA_OPERANDS = {
    "gather": (0,),
    "dynamic_slice": (0,),
    "dynamic_update_slice": (0, 1),
    "select_n": "tail",
}


def _np_pad(a: np.ndarray, config: Any, fill: int) -> np.ndarray:
    for axis, (lo, hi, interior) in enumerate(config):
        if interior:
            shape = list(a.shape)
            shape[axis] = a.shape[axis] + max(a.shape[axis] - 1, 0) * interior
            b = np.full(shape, fill, dtype=a.dtype)
            sl = [slice(None)] * a.ndim
            sl[axis] = slice(None, None, interior + 1)
            b[tuple(sl)] = a
            a = b
        widths = [(0, 0)] * a.ndim
        widths[axis] = (max(lo, 0), max(hi, 0))
        a = np.pad(a, widths, constant_values=fill)
        sl = [slice(None)] * a.ndim
        sl[axis] = slice(max(-lo, 0), a.shape[axis] - max(-hi, 0))
        a = a[tuple(sl)]
    return a


def _np_broadcast(a: np.ndarray, p: dict) -> np.ndarray:
    shape, dims = p["shape"], p["broadcast_dimensions"]
    expanded = [1] * len(shape)
    for i, d in enumerate(dims):
        expanded[d] = a.shape[i]
    return np.broadcast_to(a.reshape(expanded), shape)


def _np_slice(a: np.ndarray, p: dict) -> np.ndarray:
    strides = p["strides"] or (1,) * a.ndim
    return a[tuple(slice(s, e, k) for s, e, k in zip(p["start_indices"], p["limit_indices"], strides))]


def _starts(a: np.ndarray, starts: list, sizes: tuple) -> tuple:
    return tuple(
        slice(int(np.clip(int(s), 0, d - k)), int(np.clip(int(s), 0, d - k)) + k)
        for s, d, k in zip(starts, a.shape, sizes)
    )


def _np_dus(args: list) -> np.ndarray:
    out = np.array(args[0])
    out[_starts(out, args[2:], args[1].shape)] = args[1]
    return out


_NUMPY_MOVES = {
    "reshape": lambda a, p: a[0].reshape(p["new_sizes"]),
    "transpose": lambda a, p: np.transpose(a[0], p["permutation"]),
    "squeeze": lambda a, p: np.squeeze(a[0], tuple(p["dimensions"])),
    "broadcast_in_dim": lambda a, p: _np_broadcast(a[0], p),
    "slice": lambda a, p: _np_slice(a[0], p),
    "rev": lambda a, p: np.flip(a[0], tuple(p["dimensions"])),
    "pad": lambda a, p: _np_pad(a[0], p["padding_config"], int(np.asarray(a[1]))),
    "concatenate": lambda a, p: np.concatenate(a, axis=p["dimension"]),
    "split": lambda a, p: np.split(a[0], np.cumsum(p["sizes"])[:-1], axis=p["axis"]),
    "select_n": lambda a, p: np.choose(np.asarray(a[0]).astype(np.int64), a[1:]),
    "dynamic_slice": lambda a, p: a[0][_starts(a[0], a[1:], p["slice_sizes"])],
    "dynamic_update_slice": lambda a, p: _np_dus(a),
    "stack": lambda a, p: np.stack(a, axis=p["axis"]),
    "unstack": lambda a, p: [np.take(a[0], i, axis=p["axis"]) for i in range(a[0].shape[p["axis"]])],
    "tile": lambda a, p: np.tile(a[0], p["reps"]),
}


def _is_data(name: str, i: int) -> bool:
    spec = _DATA_OPERANDS.get(name)
    if spec is None:
        return True
    if spec == "tail":
        return i > 0
    return i in spec


def index_map(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val] | None:
    """Exact rule for a data-movement primitive by evaluating it on row numbers; ``None`` if not applicable."""
    name = eqn.primitive.name
    args, parts, off = [], [], 0
    for i, (v, var) in enumerate(zip(ins, eqn.invars)):
        shape = var.aval.shape
        if _is_data(name, i):
            k = size_of(var.aval)
            if v.pat is None:
                args.append(np.full(shape, -1, dtype=np.int32))
            else:
                args.append((np.arange(k, dtype=np.int64) + off).astype(np.int32).reshape(shape))
                parts.append(v.pat)
                off += k
        elif v.const is None:
            return None
        else:
            args.append(v.const)
    params = dict(eqn.params)
    if name in _NUMPY_MOVES:
        res = _NUMPY_MOVES[name](args, params)
    else:
        if name == "gather":
            params["fill_value"] = -1
        with jax.ensure_compile_time_eval():
            res = eqn.primitive.bind(*args, **params)
    res = res if eqn.primitive.multiple_results else [res]
    stacked = parts[0] if len(parts) == 1 else sp.csr_array(sp.vstack(parts, format="csr"))
    return [Val(pt.select_rows(stacked, np.asarray(r))) for r in res]


def _axis_union(v: Val, shape: tuple[int, ...], axes: tuple[int, ...]) -> Any:
    """Pattern where every element holds the union of its line(s) along ``axes`` (same shape)."""
    if v.pat is None:
        return None
    ids = _group_ids(shape, axes)
    g = pt.group_union(v.pat, ids, int(ids.max()) + 1 if ids.size else 0)
    return pt.select_rows(g, ids)


def _group_ids(shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """Flat id of the reduced position of every element of an array of ``shape`` reduced over ``axes``."""
    kept = [d for i, d in enumerate(shape) if i not in axes]
    ids = np.arange(int(np.prod(kept, dtype=np.int64)), dtype=np.int64).reshape(kept)
    ids = np.expand_dims(ids, tuple(axes))
    return np.broadcast_to(ids, shape).ravel()


@register(*_MOVES)
def moves(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    res = index_map(ctx, eqn, ins)
    if res is not None:
        return res
    name = eqn.primitive.name
    shape = tuple(eqn.invars[0].aval.shape)
    if name == "select_n":  # unknown predicate: union of the cases
        rows = size_of(eqn.outvars[0].aval)
        return [Val(pt.union(*[v.pat for v in ins[1:]]))] if rows else [Val(None)]
    if name == "dynamic_slice":  # unknown start: any position along the sliced axes
        sizes = eqn.params["slice_sizes"]
        axes = tuple(i for i, (d, s) in enumerate(zip(shape, sizes)) if s < d)
        wide = _axis_union(ins[0], shape, axes)
        ids = np.arange(size_of(eqn.invars[0].aval), dtype=np.int32).reshape(shape)
        sl = np.asarray(lax.slice(ids, (0,) * len(shape), tuple(sizes)))
        return [Val(pt.select_rows(wide, sl))]
    if name == "dynamic_update_slice":
        upd = ins[1].pat
        row = None if upd is None else pt.broadcast_row(pt.row_union(upd), size_of(eqn.outvars[0].aval))
        return [Val(pt.union(ins[0].pat, row))]
    return dense_fallback(ctx, eqn, ins, "its indices depend on the input")


@register("reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin")
def reduction(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    shape = tuple(eqn.invars[0].aval.shape)
    axes = tuple(eqn.params["axes"])
    ids = _group_ids(shape, axes)
    return [Val(pt.group_union(ins[0].pat, ids, size_of(eqn.outvars[0].aval)))]


@register("cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp")
def cumulative(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    shape = tuple(eqn.invars[0].aval.shape)
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    n_line = shape[axis]
    ids = np.moveaxis(np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape), axis, -1).reshape(-1, n_line)
    i, j = np.tril_indices(n_line)  # out i depends on in j <= i
    if reverse:
        i, j = j, i
    s = pt.from_pairs(ids[:, i], ids[:, j], (ids.size, ids.size))
    return [Val(pt.apply(s, ins[0].pat))]


@register("sort")
def sort(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    shape = tuple(eqn.invars[0].aval.shape)
    axis = eqn.params["dimension"]
    return [Val(_axis_union(v, shape, (axis,))) for v in ins]


@register("top_k")
def top_k(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    shape = tuple(eqn.invars[0].aval.shape)
    axis = eqn.params.get("axis", len(shape) - 1)
    out_shape = tuple(eqn.outvars[0].aval.shape)
    line = pt.group_union(ins[0].pat, _group_ids(shape, (axis,)), size_of(eqn.outvars[0].aval) // out_shape[axis])
    out = None if line is None else pt.select_rows(line, _group_ids(out_shape, (axis,)))
    return [Val(out), Val(None)]


def _scatter_destinations(eqn: Any, indices: np.ndarray) -> np.ndarray | None:
    """Flat operand position each update element lands on (``-1``: dropped), via the transpose of scatter-add."""
    op_aval, upd_aval = eqn.invars[0].aval, eqn.invars[2].aval
    n_op = size_of(op_aval)
    dt = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    if n_op >= (2**53 if dt == jnp.float64 else 2**24):
        return None
    p = eqn.params

    def scatter(u: jax.Array) -> jax.Array:
        return lax.scatter_add(
            jnp.zeros(op_aval.shape, dt), indices, u, p["dimension_numbers"],
            indices_are_sorted=p["indices_are_sorted"], unique_indices=p["unique_indices"], mode=p["mode"],
        )

    with jax.ensure_compile_time_eval():
        transpose = jax.linear_transpose(scatter, jax.ShapeDtypeStruct(upd_aval.shape, dt))
        (g,) = transpose(jnp.arange(1, n_op + 1, dtype=dt).reshape(op_aval.shape))
    return np.asarray(g).ravel().astype(np.int64) - 1


@register("scatter", "scatter-add", "scatter-sub", "scatter-mul", "scatter-min", "scatter-max")
def scatter(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    op, idx, upd = ins
    n_op = size_of(eqn.invars[0].aval)
    dest = None if idx.const is None else _scatter_destinations(eqn, idx.const)
    if dest is None:
        row = None if upd.pat is None else pt.broadcast_row(pt.row_union(upd.pat), n_op)
        return [Val(pt.union(op.pat, row))]
    live = dest >= 0
    s = pt.from_pairs(dest[live], np.nonzero(live)[0], (n_op, len(dest)))
    from_upd = pt.apply(s, upd.pat)
    from_op = op.pat
    if eqn.primitive.name == "scatter" and from_op is not None:
        keep = np.arange(n_op)
        keep[dest[live]] = -1
        from_op = pt.select_rows(from_op, keep)
    return [Val(pt.union(from_op, from_upd))]
