"""Sparsity rules for contractions: ``dot_general`` and ``conv_general_dilated``.

Both are bilinear, so the output pattern is ``S_lhs @ P_lhs + S_rhs @ P_rhs`` where ``S_lhs`` (output x lhs
elements) links an output element to the lhs elements it multiplies by a possibly nonzero rhs element.  When an
operand is a known constant its exact zeros are used, which keeps products with sparse constant matrices exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jacx.sparse import _pattern as pt
from jacx.sparse._detect import Context, Val, register, size_of


def _ids(aval: Any) -> np.ndarray:
    return np.arange(size_of(aval), dtype=np.int64).reshape(aval.shape)


def _mask(v: Val, shape: tuple[int, ...]) -> np.ndarray:
    if v.const is None:
        return np.ones(shape, dtype=bool)
    return np.broadcast_to(np.asarray(v.const) != 0, shape)


@register("dot_general")
def dot_general(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    la, ra = eqn.invars[0].aval, eqn.invars[1].aval
    lfree = [d for d in range(len(la.shape)) if d not in lc and d not in lb]
    rfree = [d for d in range(len(ra.shape)) if d not in rc and d not in rb]
    bsz = int(np.prod([la.shape[d] for d in lb], dtype=np.int64))
    isz = int(np.prod([la.shape[d] for d in lfree], dtype=np.int64))
    ksz = int(np.prod([la.shape[d] for d in lc], dtype=np.int64))
    jsz = int(np.prod([ra.shape[d] for d in rfree], dtype=np.int64))
    lperm, rperm = list(lb) + lfree + list(lc), list(rb) + list(rc) + rfree
    lids = np.transpose(_ids(la), lperm).reshape(bsz, isz, ksz)
    rids = np.transpose(_ids(ra), rperm).reshape(bsz, ksz, jsz)
    lmask = np.transpose(_mask(ins[0], la.shape), lperm).reshape(bsz, isz, ksz)
    rmask = np.transpose(_mask(ins[1], ra.shape), rperm).reshape(bsz, ksz, jsz)
    m = bsz * isz * jsz
    out = None
    if ins[0].pat is not None:
        b, k, j = np.nonzero(rmask)
        i = np.arange(isz)[:, None]
        rows = b * isz * jsz + i * jsz + j
        cols = lids[b, i, k]
        out = pt.union(out, pt.apply(pt.from_pairs(rows, cols, (m, size_of(la))), ins[0].pat))
    if ins[1].pat is not None:
        b, i, k = np.nonzero(lmask)
        j = np.arange(jsz)[:, None]
        rows = b * isz * jsz + i * jsz + j
        cols = rids[b, k, j]
        out = pt.union(out, pt.apply(pt.from_pairs(rows, cols, (m, size_of(ra))), ins[1].pat))
    return [Val(out)]


def _patches(lids: np.ndarray, kernel: tuple, out_sp: tuple, p: dict) -> np.ndarray:
    """For each (batch, channel, tap, output position): the lhs element it reads, or -1 for padding."""
    tables = []
    for d, (length, k, o) in enumerate(zip(lids.shape[2:], kernel, out_sp)):
        ld, rd = p["lhs_dilation"][d], p["rhs_dilation"][d]
        lo = p["padding"][d][0]
        pos = np.arange(o)[:, None] * p["window_strides"][d] + np.arange(k)[None, :] * rd - lo
        ok = (pos >= 0) & (pos < (length - 1) * ld + 1) & (pos % ld == 0)
        tables.append(np.where(ok, pos // ld, -1).T)  # (k, o)
    r = len(tables)
    idx, valid = [], True
    for d, t in enumerate(tables):
        shape = [1] * (2 * r)
        shape[d], shape[r + d] = t.shape
        t = t.reshape(shape)
        valid = valid & (t >= 0)
        idx.append(np.maximum(t, 0))
    vals = lids[(slice(None), slice(None), *idx)]
    return np.where(valid, vals, -1)


@register("conv_general_dilated")
def conv(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    """Convolution: output (n, o, s) reads lhs (batch, channel) pairs through the taps of kernel row ``o``.

    With ``feature_group_count`` F the lhs channels and the output features split into F groups and output
    feature group g reads channel group g; with ``batch_group_count`` G (at most one of F, G exceeds 1) the lhs
    batch splits into G contiguous groups of N / G, the output batch is N / G and output feature group g reads
    batch group g: output element (n, o, s) reads lhs batch ``g * N / G + n``.
    """
    p = eqn.params
    la, ra, oa = eqn.invars[0].aval, eqn.invars[1].aval, eqn.outvars[0].aval
    dn = p["dimension_numbers"]
    lhs_spec, rhs_spec, out_spec = dn.lhs_spec, dn.rhs_spec, dn.out_spec
    lshape = tuple(la.shape[d] for d in lhs_spec)
    rshape = tuple(ra.shape[d] for d in rhs_spec)
    oshape = tuple(oa.shape[d] for d in out_spec)
    n_b, c_in = lshape[:2]
    o_ch, c_grp = rshape[:2]
    n_out = oshape[0]
    taps = int(np.prod(rshape[2:], dtype=np.int64))
    f_groups, b_groups = p["feature_group_count"], p["batch_group_count"]
    lids = np.transpose(_ids(la), lhs_spec)
    pos = _patches(lids, rshape[2:], oshape[2:], p).reshape(n_b, c_in, taps, -1)
    s_out = pos.shape[-1]
    out_ids = np.transpose(_ids(oa), out_spec).reshape(n_out, o_ch, s_out)
    rids = np.transpose(_ids(ra), rhs_spec).reshape(o_ch, c_grp, taps)
    rmask = np.transpose(_mask(ins[1], ra.shape), rhs_spec).reshape(o_ch, c_grp, taps)
    lmask_flat = _mask(ins[0], la.shape).ravel()
    f_group_of = np.arange(o_ch) // max(o_ch // f_groups, 1)
    b_group_of = np.arange(o_ch) // max(o_ch // b_groups, 1)

    def reads(o: np.ndarray, c: np.ndarray, t: np.ndarray) -> np.ndarray:
        """lhs element (or -1) read by output (n, o[z], s) through kernel element (o, c, t)[z]: (n_out, Z, s_out)."""
        batch = b_group_of[o][None, :] * n_out + np.arange(n_out)[:, None]
        return pos[batch, f_group_of[o] * c_grp + c, t, :]

    m = size_of(oa)
    out = None
    if ins[0].pat is not None:
        o, c, t = np.nonzero(rmask)
        cols = reads(o, c, t)
        rows = out_ids[:, o, :]
        ok = cols >= 0
        s = pt.from_pairs(rows[ok], cols[ok], (m, size_of(la)))
        out = pt.union(out, pt.apply(s, ins[0].pat))
    if ins[1].pat is not None:
        o, c, t = (a.ravel() for a in np.indices((o_ch, c_grp, taps)))
        src = reads(o, c, t)
        ok = src >= 0
        ok &= lmask_flat[np.where(ok, src, 0)]
        rows = out_ids[:, o, :]
        cols = np.broadcast_to(rids[o, c, t][None, :, None], src.shape)
        s = pt.from_pairs(rows[ok], cols[ok], (m, size_of(ra)))
        out = pt.union(out, pt.apply(s, ins[1].pat))
    return [Val(out)]
