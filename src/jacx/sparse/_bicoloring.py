"""Bidirectional colorings: some entries from JVPs (column products), the others from VJPs (row products).

A Jacobian with a few dense rows *and* a few dense columns defeats one-sided coloring (a dense row forces every
column into its own color, a dense column every row).  Splitting helps: read the dense rows from VJPs and
everything else from JVPs (or the dense columns from JVPs and the rest from VJPs).  An arrow matrix then needs
three products instead of ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from jacx._errors import JacxInternalError
from jacx.sparse._coloring import ORDERINGS, color_columns, color_rows
from jacx.sparse._compress import Coloring, _as_csr
from jacx.sparse._pattern import unique

__all__ = ["BiColoring", "color_bidirectional", "dense_splits", "split_lower_bound"]


@dataclass(frozen=True)
class BiColoring:
    """A forward column coloring, a reverse row coloring and which nonzeros each one recovers.

    ``from_forward[k]`` says whether the ``k``-th nonzero of the pattern (CSR order, sorted columns) is read
    from the forward products.  Unseeded columns/rows have color ``-1``.

    >>> import numpy as np
    >>> from jacx.sparse import color_bidirectional
    >>> arrow = np.eye(6, dtype=bool); arrow[0, :] = True; arrow[:, 0] = True
    >>> bc = color_bidirectional(arrow)
    >>> bc.n_colors, bc.forward.n_colors, bc.reverse.n_colors
    (3, 2, 1)
    >>> bc.is_valid(arrow)
    True
    """

    forward: Coloring
    reverse: Coloring
    from_forward: np.ndarray
    method: str = ""

    @property
    def n_colors(self) -> int:
        """Total number of products (JVPs + VJPs)."""
        return self.forward.n_colors + self.reverse.n_colors

    def decompress(self, fwd: np.ndarray, rev: np.ndarray, pattern: object) -> sp.csr_array:
        """Recover the Jacobian from ``J @ S_fwd`` (m x kf) and ``S_rev.T @ J`` (kr x n)."""
        p = _as_csr(pattern)
        rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
        cols = p.indices
        fc = np.maximum(self.forward.colors[cols], 0)
        rc = np.maximum(self.reverse.colors[rows], 0)
        a = np.asarray(fwd)[rows, fc] if self.forward.n_colors else np.zeros(len(rows))
        b = np.asarray(rev)[rc, cols] if self.reverse.n_colors else np.zeros(len(rows))
        return sp.csr_array((np.where(self.from_forward, a, b), cols.copy(), p.indptr.copy()), shape=p.shape)

    def is_valid(self, pattern: object) -> bool:
        """Whether every nonzero is recovered exactly by the side it is read from."""
        p = _as_csr(pattern)
        if len(self.from_forward) != p.nnz:
            return False
        rows = np.repeat(np.arange(p.shape[0], dtype=np.int64), np.diff(p.indptr))
        cols = p.indices.astype(np.int64)
        ok_f = _unique_slots(rows, self.forward.colors[cols], self.forward.n_colors, self.from_forward)
        ok_r = _unique_slots(cols, self.reverse.colors[rows], self.reverse.n_colors, ~self.from_forward)
        return ok_f and ok_r


def _unique_slots(lines: np.ndarray, colors: np.ndarray, k: int, read: np.ndarray) -> bool:
    """Each read entry is seeded and alone in its (line, color) slot among all seeded entries."""
    if (colors[read] < 0).any():
        return False
    seeded = colors >= 0
    key = lines[seeded] * max(k, 1) + colors[seeded]
    s = np.sort(key)
    dup = unique(s[1:][s[1:] == s[:-1]]) if len(s) > 1 else s[:0]
    read_keys = lines[read] * max(k, 1) + colors[read]
    return not np.isin(read_keys, dup).any()


_QUICK_NNZ = 200_000  # parts with more entries are colored with the vectorised largest-first ordering only


def _part(q: sp.csr_array, columns: bool, shape: tuple | None, live: np.ndarray | None = None) -> Coloring:
    """Column (or row) coloring of the part ``q`` of the pattern; an empty part needs no product at all."""
    size = q.shape[1] if columns else q.shape[0]
    kind = "column" if columns else "row"
    if q.nnz == 0:
        return Coloring(np.full(size, -1, dtype=np.int64), 0, kind, "empty")
    orderings = ORDERINGS if q.nnz <= _QUICK_NNZ else ("largest_first",)
    c = (color_columns(q, shape=shape, orderings=orderings) if columns
         else color_rows(q, shape=shape, orderings=orderings))
    return c if live is None else Coloring(np.where(live, c.colors, -1), c.n_colors, kind, c.method)


def _split(p: sp.csr_array, dense: np.ndarray, by_rows: bool, shapes: tuple, rows: np.ndarray) -> BiColoring:
    in_dense = dense[rows] if by_rows else dense[p.indices]
    keep = sp.csr_array((~in_dense, p.indices.copy(), p.indptr.copy()), shape=p.shape)  # eliminate_zeros
    take = sp.csr_array((in_dense.copy(), p.indices.copy(), p.indptr.copy()), shape=p.shape)  # works in place
    keep.eliminate_zeros()
    take.eliminate_zeros()
    if by_rows:  # dense rows by VJPs, the rest by JVPs
        fwd = _part(keep, True, shapes[0])
        rev = _part(take, False, shapes[1], dense)
        return BiColoring(fwd, rev, ~in_dense, "dense rows by VJP")
    fwd = _part(take, True, shapes[0], dense)
    rev = _part(keep, False, shapes[1])
    return BiColoring(fwd, rev, in_dense, "dense columns by JVP")


def split_lower_bound(p: sp.csr_array, dense: np.ndarray, by_rows: bool, rows: np.ndarray) -> int:
    """A lower bound on the products of a split: the longest remaining row (column) plus one for the dense part."""
    if by_rows:
        rest = np.bincount(rows[~dense[rows]], minlength=p.shape[0])
    else:
        rest = np.bincount(p.indices[~dense[p.indices]], minlength=p.shape[1])
    return int(rest.max(initial=0)) + int(dense.any())


def dense_splits(p: sp.csr_array) -> list[tuple[bool, np.ndarray]]:
    """Candidate splits ``(by_rows, dense_mask)``: rows (columns) with more than twice the median count."""
    out = []
    row_nnz, col_nnz = np.diff(p.indptr), np.bincount(p.indices, minlength=p.shape[1])
    for by_rows, deg in ((True, row_nnz), (False, col_nnz)):
        if deg.size == 0:
            continue
        base = 2 * float(np.median(deg))
        for level in sorted({int(v) for v in deg[deg > base]}, reverse=True)[:4]:
            out.append((by_rows, deg >= level))
    return out


def color_bidirectional(
    pattern: object,
    *,
    in_shape: tuple[int, ...] | None = None,
    out_shape: tuple[int, ...] | None = None,
) -> BiColoring:
    """Bidirectional coloring: dense rows read from VJPs, or dense columns from JVPs, whichever is cheaper.

    Rows (columns) count as dense when they hold more than twice the median number of nonzeros; the four
    largest such thresholds are tried on both sides, the most promising first (by a lower bound on their
    products), and the cheapest valid split is kept; the search stops when no remaining split can beat it.

    An arrow (one dense row, one dense column, a diagonal) needs ``n`` products one-sided but 3 here:

    >>> import numpy as np, scipy.sparse as sp
    >>> A = np.eye(50, dtype=bool); A[0, :] = True; A[:, 0] = True
    >>> bc = color_bidirectional(sp.csr_array(A))
    >>> bc.n_colors, bc.is_valid(sp.csr_array(A))
    (3, True)
    """
    p = _as_csr(pattern)
    shapes = (in_shape, out_shape)
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    # on a symmetric pattern a split by columns mirrors the split by rows with the same mask: same count
    symmetric = p.shape[0] == p.shape[1] and (p != p.T).nnz == 0
    splits = [(split_lower_bound(p, dense, by_rows, rows), i, by_rows, dense)
              for i, (by_rows, dense) in enumerate(dense_splits(p)) if by_rows or not symmetric]
    best = None
    for lower, _, by_rows, dense in sorted(splits, key=lambda t: t[:2]):  # most promising first
        if best is not None and lower >= best.n_colors:
            break  # no later split can do better
        cand = _split(p, dense, by_rows, shapes, rows)
        if best is None or cand.n_colors < best.n_colors:
            best = cand
    if best is None:  # nothing dense: plain forward coloring
        fwd = color_columns(p, shape=in_shape)
        best = BiColoring(fwd, Coloring(np.full(p.shape[0], -1), 0, "row"), np.ones(p.nnz, bool), "forward")
    if not best.is_valid(p):
        raise JacxInternalError(f"bidirectional coloring ({best.method}) of a {p.shape} pattern is invalid.")
    return best
