"""Vectorised index-set algebra: one boolean CSR matrix per array value.

Row ``r`` of a pattern matrix is the set of input indices (columns) that element ``r`` of a flattened array may
depend on.  Every operation below is a whole-array SciPy/NumPy operation: there is no per-element Python loop.
``None`` stands for the empty pattern (no dependence on the input at all).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "Pattern",
    "apply",
    "broadcast_row",
    "duplicates",
    "empty",
    "from_pairs",
    "group_union",
    "identity",
    "row_union",
    "same",
    "select_rows",
    "union",
    "unique",
]

Pattern = sp.csr_array


def unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a 1-D integer array (sort based; faster than hashing for big arrays)."""
    s = np.sort(np.asarray(a).ravel())
    if s.size == 0:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def duplicates(keys: np.ndarray, bound: int) -> int:
    """How many entries of ``keys`` (integers in ``[0, bound)``) repeat an earlier one."""
    keys = np.asarray(keys).ravel()
    if keys.size == 0:
        return 0
    if bound <= max(4 * keys.size, 1 << 20):
        counts = np.bincount(keys, minlength=bound)
        return int(keys.size - np.count_nonzero(counts))
    return int(keys.size - unique(keys).size)


def _index_dtype(n: int) -> type:
    return np.int32 if n < 2**31 - 1 else np.int64


def identity(n: int) -> Pattern:
    """The pattern of the input itself: element ``i`` depends on input ``i``."""
    dt = _index_dtype(n)
    return sp.csr_array(
        (np.ones(n, dtype=bool), np.arange(n, dtype=dt), np.arange(n + 1, dtype=dt)), shape=(n, n)
    )


def empty(rows: int, n: int) -> Pattern:
    """A pattern with ``rows`` rows and no entries."""
    dt = _index_dtype(max(rows, n))
    return sp.csr_array(
        (np.zeros(0, dtype=bool), np.zeros(0, dtype=dt), np.zeros(rows + 1, dtype=dt)), shape=(rows, n)
    )


def select_rows(p: Pattern, idx: np.ndarray) -> Pattern:
    """Row ``k`` of the result is row ``idx[k]`` of ``p``, or empty where ``idx[k] < 0``."""
    idx = np.asarray(idx, dtype=np.int64).ravel()
    valid = idx >= 0
    src = np.where(valid, idx, 0)
    lengths = np.diff(p.indptr).astype(np.int64)
    counts = np.where(valid, lengths[src] if len(lengths) else 0, 0)
    indptr = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    total = int(indptr[-1])
    starts = p.indptr[src].astype(np.int64) if len(lengths) else np.zeros(len(idx), np.int64)
    pos = np.repeat(starts - indptr[:-1], counts) + np.arange(total, dtype=np.int64)
    indices = p.indices[pos]
    dt = _index_dtype(max(total, p.shape[1]))
    return sp.csr_array(
        (np.ones(total, dtype=bool), indices.astype(dt, copy=False), indptr.astype(dt, copy=False)),
        shape=(len(idx), p.shape[1]),
    )


def union(*ps: Pattern | None) -> Pattern | None:
    """Element-wise union (boolean OR) of patterns of the same shape; ``None`` entries are skipped."""
    live = [p for p in ps if p is not None]
    if not live:
        return None
    out = live[0]
    for p in live[1:]:
        out = out + p
    return sp.csr_array(out)


def apply(s: Pattern, p: Pattern | None) -> Pattern | None:
    """Propagate through a linear structure ``s`` (out x in): ``out[o] = union of p[i] over s[o, i]``."""
    if p is None:
        return None
    return sp.csr_array(s.astype(bool) @ p)


def from_pairs(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Pattern:
    """A boolean pattern with entries at ``(rows[k], cols[k])`` (duplicates merged)."""
    rows = np.asarray(rows).ravel()
    cols = np.asarray(cols).ravel()
    m = sp.coo_array((np.ones(len(rows), dtype=bool), (rows, cols)), shape=shape).tocsr()
    m.sum_duplicates()
    return sp.csr_array(m)


def group_union(p: Pattern | None, groups: np.ndarray, n_groups: int) -> Pattern | None:
    """Row ``g`` of the result is the union of the rows ``i`` of ``p`` with ``groups[i] == g``."""
    if p is None:
        return None
    groups = np.asarray(groups).ravel()
    s = from_pairs(groups, np.arange(len(groups)), (n_groups, len(groups)))
    return apply(s, p)


def row_union(p: Pattern) -> Pattern:
    """A one-row pattern holding every column used anywhere in ``p``."""
    cols = unique(p.indices)
    dt = _index_dtype(p.shape[1])
    return sp.csr_array(
        (np.ones(len(cols), dtype=bool), cols.astype(dt), np.array([0, len(cols)], dtype=dt)),
        shape=(1, p.shape[1]),
    )


def broadcast_row(p: Pattern, rows: int) -> Pattern:
    """Repeat a one-row pattern ``rows`` times."""
    return select_rows(p, np.zeros(rows, dtype=np.int64))


def same(a: Pattern | None, b: Pattern | None) -> bool:
    """Whether two patterns hold the same entries (``None`` is empty)."""
    na = 0 if a is None else a.nnz
    nb = 0 if b is None else b.nnz
    if na != nb:
        return False
    if na == 0:
        return True
    return (a != b).nnz == 0
