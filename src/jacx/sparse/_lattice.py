"""Structure recognition for colorings: linear colorings of a lattice.

Give each column the coordinates of its element in an array of ``shape`` and try colorings of the form
``color = (a . coords) mod k``.  Two columns that share a row must differ in color, i.e. ``a . delta != 0 (mod k)``
for their coordinate difference ``delta``.  Stencils and banded matrices have only a few distinct differences,
so all coefficient vectors ``a`` for a given ``k`` are checked at once with one small integer matrix product.
On a band of width ``w`` this finds ``c mod w``; on periodic grid stencils it finds the classic lattice
colorings (for example ``(i + 2j) mod 6`` or ``(i + 3j) mod 8`` for a 5-point stencil with a coupled field).
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from jacx.sparse._pattern import duplicates, unique

__all__ = ["grid_shapes", "lattice_coloring", "pair_differences"]

_MAX_DIFFS = 4096
_MAX_CANDIDATES = 200_000
_SAMPLE_ROWS = 4_096
_FEW_ROWS = 64
_MAX_WORK = 20_000_000
_MAX_SHAPES = 400  # candidate grid shapes scored when the input's own shape says nothing
_SHAPE_SAMPLE_ROWS = 256
_MAX_FLAT_OFFSETS = 64  # distinct flat offsets of a stencil (sampled) beyond which no grid shape is tried


def _coordinates(where: tuple[int, ...] | np.ndarray) -> np.ndarray:
    """Each column's integer coordinates: from a shape (row-major numbering) or given as an ``n x dims`` array."""
    if isinstance(where, np.ndarray):
        return where.astype(np.int64, copy=False)
    n = int(np.prod(where))
    return np.stack(np.unravel_index(np.arange(n), where), axis=1).astype(np.int64)


def pair_differences(
    p: sp.csr_array, where: tuple[int, ...] | np.ndarray, rows: np.ndarray | None = None
) -> np.ndarray | None:
    """Distinct coordinate differences (one of each +/- pair) between columns that share a row of ``p``.

    ``where`` is the shape of the array the columns number in row-major order, or the columns' coordinates
    (non-negative integers, ``n x dims``).  With ``rows``, only those rows are looked at (a sample: the caller
    validates the coloring it derives).
    """
    coords = _coordinates(where)
    shape = tuple(int(s) for s in coords.max(axis=0) + 1) if len(coords) else tuple(where)
    row_nnz = np.diff(p.indptr)
    if rows is not None:
        keep = np.zeros(len(row_nnz), dtype=bool)
        keep[rows] = True
        row_nnz = np.where(keep, row_nnz, 0)
    span = np.asarray(shape, dtype=np.int64) * 2 + 1
    # mixed-radix code with room for signed differences: code(a) - code(b) + code(shape) encodes a - b + shape
    weights = np.concatenate([np.cumprod(span[::-1])[::-1][1:], [1]]).astype(np.int64)
    code_of = coords @ weights
    offset = int(np.asarray(shape, dtype=np.int64) @ weights)
    diffs = []
    for length in unique(row_nnz):
        if length < 2:
            continue
        rows = np.nonzero(row_nnz == length)[0]
        cols = p.indices[p.indptr[rows][:, None] + np.arange(length)]
        i, j = np.triu_indices(length, 1)
        codes = code_of[cols]
        u = unique((codes[:, i] - codes[:, j]).ravel() + offset)
        diffs.append(np.stack(np.unravel_index(u, tuple(span)), axis=1) - span // 2)
        if sum(len(x) for x in diffs) > 4 * _MAX_DIFFS:
            return None
    if not diffs:
        return np.zeros((0, len(shape)), dtype=np.int64)
    d = np.unique(np.concatenate(diffs), axis=0)
    # +delta and -delta give the same constraint
    first = np.argmax(d != 0, axis=1)
    sign = np.where(d[np.arange(len(d)), first] < 0, -1, 1)
    d = np.unique(d * sign[:, None], axis=0)
    return d if len(d) <= _MAX_DIFFS else None


def lattice_coloring(
    p: sp.csr_array, where: tuple[int, ...] | np.ndarray, lower: int, upper: int
) -> tuple[np.ndarray, int] | None:
    """The smallest ``k`` in ``[lower, upper)`` with a valid lattice coloring, as ``(colors, k)``, or ``None``.

    ``where``: the shape of the array the columns number (row-major), or the columns' coordinates (``n x dims``).
    """
    n = p.shape[1]
    if n == 0 or (len(where) != n if isinstance(where, np.ndarray) else int(np.prod(where)) != n):
        return None
    coords = _coordinates(where)
    m = p.shape[0]
    # a few rows first: their differences are among all rows', so a k that fails on them fails on all rows
    few = np.linspace(0, m - 1, min(m, _FEW_ROWS)).astype(np.int64)
    found = _search(p, coords, lower, upper, pair_differences(p, coords, few))
    if found is None:
        return None
    lower = found[1]
    if m > _SAMPLE_ROWS:  # look at the ends and an even spread of rows; fall back to all rows if that fails
        sample = np.unique(np.concatenate([
            np.arange(_SAMPLE_ROWS // 8), np.arange(m - _SAMPLE_ROWS // 8, m),
            np.linspace(0, m - 1, _SAMPLE_ROWS // 2).astype(np.int64)]))
        found = _search(p, coords, lower, upper, pair_differences(p, coords, sample))
        if found is not None and _valid(p, *found):
            return found
    return _search(p, coords, lower, upper, pair_differences(p, coords))


def _valid(p: sp.csr_array, colors: np.ndarray, k: int) -> bool:
    rows = np.repeat(np.arange(p.shape[0], dtype=np.int64), np.diff(p.indptr))
    return duplicates(rows * k + colors[p.indices], p.shape[0] * k) == 0


def _search(
    p: sp.csr_array, coords: np.ndarray, lower: int, upper: int, d: np.ndarray | None
) -> tuple[np.ndarray, int] | None:
    if d is None:
        return None
    dims = coords.shape[1]
    work = 0
    # lattice colorings matter for stencils, whose optimum sits near the lower bound: search only near it
    for k in range(max(lower, 1), min(upper, 2 * lower + 8)):
        work += k**dims * max(len(d), 1)
        if k**dims > _MAX_CANDIDATES or work > _MAX_WORK:
            return None
        cand = np.array(list(itertools.product(range(k), repeat=dims)), dtype=np.int64)
        ok = np.all((cand @ d.T) % k != 0, axis=1) if len(d) else np.ones(len(cand), dtype=bool)
        hits = np.nonzero(ok)[0]
        if len(hits):
            return (coords @ cand[hits[0]]) % k, k
    return None


def grid_shapes(p: sp.csr_array, top: int = 6) -> list[tuple[int, ...]]:
    """Grid shapes that may explain a pattern over a flat vector: the 2- and 3-factor shapes of ``n`` under which
    the columns sharing a row differ by the fewest distinct coordinate differences (a stencil on a grid numbered
    row-major differs by a handful; the wrong shape scatters them), best first.

    The state of a simulation is often passed flat (what SciPy's solvers hand over); this recovers the
    ``(fields, N, N)`` or ``(N, N, fields)`` layout so that :func:`lattice_coloring` can find stencil colorings.

    >>> import numpy as np, scipy.sparse as sp
    >>> N = 6; idx = np.arange(N * N).reshape(N, N)   # a 5-point periodic stencil, numbered row-major
    >>> rows = np.repeat(idx.ravel(), 5)
    >>> cols = np.stack([idx, np.roll(idx, 1, 0), np.roll(idx, -1, 0), np.roll(idx, 1, 1), np.roll(idx, -1, 1)],
    ...                 axis=-1).ravel()
    >>> p = sp.csr_array((np.ones(len(rows), bool), (rows, cols)), shape=(N * N, N * N))
    >>> (6, 6) in grid_shapes(p)
    True
    """
    m, n = p.shape
    rows = np.unique(np.linspace(0, m - 1, min(m, _SHAPE_SAMPLE_ROWS)).astype(np.int64)) if m else np.zeros(0, np.int64)
    # a stencil on a grid numbered row-major differs by a handful of flat offsets (1, N, N^2, ... and their sums);
    # an unstructured numbering by many: then no grid shape explains the pattern and none is scored
    flat = pair_differences(p, (n,), rows) if m else None
    if flat is None or len(flat) > _MAX_FLAT_OFFSETS:
        return []
    divisors = [d for d in range(2, n // 2 + 1) if n % d == 0]
    shapes: list[tuple[int, ...]] = [(a, n // a) for a in divisors]
    for a in divisors:
        for b in divisors:
            c = n // a // b if (n // a) % b == 0 else 1
            dims = sorted((a, b, c))
            # a field axis (u, v, ...) next to two grid axes, or a cube-like grid with two equal axes
            if c > 1 and (dims[0] <= 16 or dims[1] == dims[2] or dims[0] == dims[1]):
                shapes.append((a, b, c))
    shapes = shapes[:_MAX_SHAPES]
    if not shapes:
        return []
    scored = []
    for shape in shapes:
        d = pair_differences(p, shape, rows)
        if d is not None:
            scored.append((len(d), len(shape), shape))
    scored.sort()
    return [shape for _, _, shape in scored[:top]]
