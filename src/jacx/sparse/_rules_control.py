"""Sparsity rules for calls (jit, closed_call, checkpoint, custom_jvp/custom_vjp) and control flow.

``cond`` takes the union of its branches (only the taken branch when the index is a known constant);
``while`` iterates its body to a fixed point; ``scan`` is followed step by step when that is cheap and
otherwise iterated to a fixed point with the union over time of its sliced inputs.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import numpy as np
import scipy.sparse as sp

from jacx.sparse import _pattern as pt
from jacx.sparse._detect import (
    Context,
    SparsityWarning,
    Val,
    bind,
    eval_closed,
    is_float,
    register,
    size_of,
)

_SCAN_UNROLL_BUDGET = 20_000  # steps x equations followed exactly


@register("jit", "pjit", "closed_call", "core_call", "checkpoint", "remat", "remat2")
def call(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    return eval_closed(ctx, inner, ins)


def _merge(nonfloat: list, floats: list, is_f: list[bool]) -> list:
    it_n, it_f = iter(nonfloat), iter(floats)
    return [next(it_f) if f else next(it_n) for f in is_f]


def _rule_pattern(ctx: Context, eqn: Any, ins: list[Val], reverse: bool) -> list[Val] | None:
    """Pattern implied by the differentiation rule JAX really uses for this call (custom JVP or VJP)."""
    avals_in = [v.aval for v in eqn.invars]
    avals_out = [v.aval for v in eqn.outvars]
    is_f = [is_float(a) for a in avals_in]
    if not all(is_float(a) for a in avals_out):
        return None

    def fun(*args: Any) -> Any:
        return bind(eqn, args)

    sds = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals_in]
    nf = [s for s, f in zip(sds, is_f) if not f]
    fl = [s for s, f in zip(sds, is_f) if f]
    nf_vals = [v for v, f in zip(ins, is_f) if not f]
    fl_vals = [v for v, f in zip(ins, is_f) if f]
    primal = [Val(None, v.const) for v in nf_vals + fl_vals]
    if not reverse:
        def tangent(nf_args: list, fl_args: list, t: list) -> Any:
            return jax.jvp(lambda *a: fun(*_merge(nf_args, list(a), is_f)), tuple(fl_args), tuple(t))[1]

        closed = jax.make_jaxpr(tangent)(nf, fl, fl)
        return eval_closed(ctx, closed, primal + [Val(v.pat) for v in fl_vals])
    m_sizes = [size_of(a) for a in avals_out]
    m = int(sum(m_sizes))
    sub = Context(n=m, warned=ctx.warned)

    def cotangent(nf_args: list, fl_args: list, ct: list) -> Any:
        _, pull = jax.vjp(lambda *a: fun(*_merge(nf_args, list(a), is_f)), *fl_args)
        return pull(ct)

    cts = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals_out]
    closed = jax.make_jaxpr(cotangent)(nf, fl, cts)
    offs = np.concatenate([[0], np.cumsum(m_sizes)]).astype(np.int64)
    eye = pt.identity(m)
    ct_vals = [Val(pt.select_rows(eye, np.arange(offs[k], offs[k + 1]))) for k in range(len(cts))]
    back = eval_closed(sub, closed, [Val(None, v.const) for v in nf_vals + fl_vals] + ct_vals)
    total = None
    for b, v in zip(back, fl_vals):  # b: (in_i x m), structure of d out / d in_i transposed
        if b.pat is not None and v.pat is not None:
            total = pt.union(total, pt.apply(sp.csr_array(b.pat.T.tocsr()), v.pat))
    outs = []
    for k, size in enumerate(m_sizes):
        outs.append(Val(None if total is None else pt.select_rows(total, np.arange(offs[k], offs[k + 1]))))
    return outs


@register("custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr")
def custom_call(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    body = eval_closed(ctx, eqn.params.get("call_jaxpr", eqn.params.get("fun_jaxpr")), ins)
    try:
        rule = _rule_pattern(ctx, eqn, ins, reverse=eqn.primitive.name != "custom_jvp_call")
    except Exception as err:  # noqa: BLE001 - an untraceable rule only loses the safety union
        warnings.warn(
            f"sparsity: could not trace the custom derivative rule of '{eqn.params.get('name', '?')}' "
            f"({type(err).__name__}); using its primal body only.",
            SparsityWarning,
            stacklevel=3,
        )
        rule = None
    if rule is None:
        return body
    return [Val(pt.union(b.pat, r.pat)) for b, r in zip(body, rule)]


@register("cond")
def cond(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    branches = eqn.params["branches"]
    index, ops = ins[0], ins[1:]
    if index.const is not None:
        k = int(np.clip(int(np.asarray(index.const)), 0, len(branches) - 1))
        return eval_closed(ctx, branches[k], ops)
    results = [eval_closed(ctx, br, ops) for br in branches]
    return [Val(pt.union(*[r[k].pat for r in results])) for k in range(len(eqn.outvars))]


def _grow(old: list[Val], new: list[Val]) -> tuple[list[Val], bool]:
    merged = [Val(pt.union(a.pat, b.pat)) for a, b in zip(old, new)]
    changed = any(not pt.same(a.pat, m.pat) for a, m in zip(old, merged))
    return merged, changed


@register("while")
def while_loop(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    body_consts, carry = ins[nc:nc + nb], [Val(v.pat) for v in ins[nc + nb:]]
    changed = True
    while changed:
        new = eval_closed(ctx, p["body_jaxpr"], list(body_consts) + carry)
        carry, changed = _grow(carry, new)
    return carry


def _time_slice(v: Val, t: int, inner: int) -> Val:
    pat = None if v.pat is None else pt.select_rows(v.pat, np.arange(t * inner, (t + 1) * inner))
    const = None if v.const is None else np.asarray(v.const)[t]
    return Val(pat, const)


@register("scan")
def scan(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    p = eqn.params
    length, nconst, ncarry = p["length"], p["num_consts"], p["num_carry"]
    body = p["jaxpr"]
    consts, carry, xs = ins[:nconst], list(ins[nconst:nconst + ncarry]), ins[nconst + ncarry:]
    x_avals = [v.aval for v in eqn.invars[nconst + ncarry:]]
    inner = [size_of(a) // max(length, 1) for a in x_avals]
    y_avals = [v.aval for v in eqn.outvars[ncarry:]]
    if length * max(len(body.jaxpr.eqns), 1) <= _SCAN_UNROLL_BUDGET:
        ys: list[list] = [[None] * length for _ in y_avals]
        steps = range(length - 1, -1, -1) if p["reverse"] else range(length)
        for t in steps:
            out = eval_closed(ctx, body, list(consts) + carry + [_time_slice(v, t, k) for v, k in zip(xs, inner)])
            carry = out[:ncarry]
            for slot, y in zip(ys, out[ncarry:]):
                slot[t] = y.pat
        outs = list(carry)
        for slot, a in zip(ys, y_avals):
            k = size_of(a) // max(length, 1)
            if all(s is None for s in slot):
                outs.append(Val(None))
            else:
                blocks = [s if s is not None else pt.empty(k, ctx.n) for s in slot]
                outs.append(Val(sp.csr_array(sp.vstack(blocks, format="csr"))))
        return outs
    # long scan: fixed point with each sliced input replaced by its union over time
    x_union = [Val(pt.group_union(v.pat, np.tile(np.arange(k), length), k)) for v, k in zip(xs, inner)]
    carry = [Val(v.pat) for v in carry]
    changed = True
    while changed:
        out = eval_closed(ctx, body, list(consts) + carry + x_union)
        carry, changed = _grow(carry, out[:ncarry])
    out = eval_closed(ctx, body, list(consts) + carry + x_union)
    ys_out = []
    for y, a in zip(out[ncarry:], y_avals):
        k = size_of(a) // max(length, 1)
        ys_out.append(Val(None if y.pat is None else pt.select_rows(y.pat, np.tile(np.arange(k), length))))
    return list(carry) + ys_out
