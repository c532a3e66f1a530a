"""Sparsity rules for data-movement primitives, reductions, cumulative ops, sorting, gather and scatter.

Data movement is handled exactly: the primitive is replayed with NumPy on integer arrays that hold, in place of
the data, the row number of each element in the stacked operand patterns (``-1`` for "no dependence").  The
result says, for every output element, which row it copies.  Gather and scatter share one index map
(:func:`window_sources`) read off their dimension numbers; no JAX computation runs for any of these rules.
"""

from __future__ import annotations

from typing import Any

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


def window_sources(
    operand_shape: tuple[int, ...],
    indices: np.ndarray,
    window_dims: tuple[int, ...],
    collapsed_dims: tuple[int, ...],
    index_map: tuple[int, ...],
    operand_batching_dims: tuple[int, ...],
    indices_batching_dims: tuple[int, ...],
    window_sizes: tuple[int, ...],
    clamp: bool,
) -> np.ndarray:
    """Flat operand position of every element of the windowed side of a gather or scatter (``-1``: out of bounds).

    The windowed side is the output of a gather or the updates of a scatter; its dimensions ``window_dims`` walk
    the window (in order, the operand dimensions that are neither collapsed nor batching, of sizes
    ``window_sizes``), the others walk the batch of index vectors (the last axis of ``indices``).  Component ``k``
    of an index vector is the window start along operand dimension ``index_map[k]``, and operand dimension
    ``operand_batching_dims[k]`` follows the batch position along indices dimension ``indices_batching_dims[k]``.
    A start that would put part of its window out of bounds is clamped in (``clamp``) or drops the whole window
    (its elements get ``-1``): the semantics of :class:`jax.lax.GatherScatterMode`.
    """
    idx = np.asarray(indices, dtype=np.int64)
    batch_shape = idx.shape[:-1]
    starts = idx.reshape(int(np.prod(batch_shape, dtype=np.int64)), idx.shape[-1])
    shape = np.asarray(operand_shape, dtype=np.int64)
    sizes = np.asarray(window_sizes, dtype=np.int64)
    strides = np.array([np.prod(shape[d + 1:]) for d in range(len(shape))], dtype=np.int64)
    imap = np.asarray(index_map, dtype=np.int64)
    upper = shape[imap] - sizes[imap]
    ok = None
    if clamp:
        starts = np.clip(starts, 0, np.maximum(upper, 0))
    else:
        ok = np.all((starts >= 0) & (starts <= upper), axis=1)
    base = np.zeros(starts.shape[0], dtype=np.int64)
    for k, d in enumerate(imap):  # a loop over the few index components: integer matmul is slow in NumPy
        base += starts[:, k] * strides[d]
    if operand_batching_dims:
        coords = np.unravel_index(np.arange(base.size), batch_shape)
        for od, bd in zip(operand_batching_dims, indices_batching_dims):
            base = base + coords[bd] * strides[od]
    offsets = np.zeros((), dtype=np.int64)
    spans = [d for d in range(len(shape)) if d not in collapsed_dims and d not in operand_batching_dims]
    for d in spans:
        offsets = np.add.outer(offsets, np.arange(sizes[d], dtype=np.int64) * strides[d])
    lead = batch_shape + (1,) * len(spans)
    src = base.reshape(lead) + offsets
    if ok is not None:
        src = np.where(ok.reshape(lead), src, -1)
    rank = len(batch_shape) + len(spans)
    order = [d for d in range(rank) if d not in window_dims] + list(window_dims)
    return np.transpose(src, np.argsort(order))


def _np_gather(operand: np.ndarray, indices: np.ndarray, p: dict) -> np.ndarray:
    dn = p["dimension_numbers"]
    mode = lax.GatherScatterMode.from_any(p["mode"])
    src = window_sources(
        operand.shape, indices, dn.offset_dims, dn.collapsed_slice_dims, dn.start_index_map,
        dn.operand_batching_dims, dn.start_indices_batching_dims, p["slice_sizes"],
        clamp=mode != lax.GatherScatterMode.FILL_OR_DROP,
    )
    if operand.size == 0:
        return np.full(src.shape, -1, dtype=operand.dtype)
    return np.where(src >= 0, operand.ravel()[np.maximum(src, 0)], -1).astype(operand.dtype)


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
    "gather": lambda a, p: _np_gather(a[0], a[1], p),
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
    res = _NUMPY_MOVES[name](args, dict(eqn.params))
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
        sl = ids[tuple(slice(0, k) for k in sizes)]
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


def _scatter_destinations(eqn: Any, indices: np.ndarray) -> np.ndarray:
    """Flat operand position each update element lands on (``-1``: dropped), from the dimension numbers."""
    dn = eqn.params["dimension_numbers"]
    op_shape, upd_shape = tuple(eqn.invars[0].aval.shape), tuple(eqn.invars[2].aval.shape)
    windows = iter(upd_shape[d] for d in dn.update_window_dims)
    sizes = tuple(
        1 if d in dn.inserted_window_dims or d in dn.operand_batching_dims else next(windows)
        for d in range(len(op_shape))
    )
    mode = lax.GatherScatterMode.from_any(eqn.params["mode"])
    src = window_sources(
        op_shape, indices, dn.update_window_dims, dn.inserted_window_dims, dn.scatter_dims_to_operand_dims,
        dn.operand_batching_dims, dn.scatter_indices_batching_dims, sizes,
        clamp=mode == lax.GatherScatterMode.CLIP,  # FILL_OR_DROP and PROMISE_IN_BOUNDS drop out-of-bounds windows
    )
    return src.ravel()


@register("scatter", "scatter-add", "scatter-sub", "scatter-mul", "scatter-min", "scatter-max")
def scatter(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    """Scatter family: a landed element depends on the updates landing there (a plain scatter, several: any of
    them) and, except for a plain scatter, on the operand; unknown indices give every element the union."""
    op, idx, upd = ins
    n_op = size_of(eqn.invars[0].aval)
    if idx.const is None:
        row = None if upd.pat is None else pt.broadcast_row(pt.row_union(upd.pat), n_op)
        return [Val(pt.union(op.pat, row))]
    dest = _scatter_destinations(eqn, idx.const)
    live = dest >= 0
    from_upd = None
    if upd.pat is not None:  # each update's entries move to its row (about twice as fast as a product)
        rows = np.repeat(dest, np.diff(upd.pat.indptr))
        landed = rows >= 0
        from_upd = pt.from_pairs(rows[landed], upd.pat.indices[landed], (n_op, upd.pat.shape[1]))
    from_op = op.pat
    # a plain scatter overwrites; scatter_apply (update_jaxpr set) computes the new value from the operand
    overwrites = eqn.primitive.name == "scatter" and eqn.params.get("update_jaxpr") is None
    if overwrites and from_op is not None:
        keep = np.arange(n_op)
        keep[dest[live]] = -1
        from_op = pt.select_rows(from_op, keep)
    return [Val(pt.union(from_op, from_upd))]
