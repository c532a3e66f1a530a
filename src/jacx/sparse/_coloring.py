"""Partial distance-2 colorings of a sparsity pattern (columns for JVPs, rows for VJPs).

The search tries, in order of cost: trivial cases (rows of at most one nonzero: one color), a vectorised
largest-first greedy when the conflict graph is small, lattice colorings that recognise stencil and banded
structure (see ``_lattice``), then greedy coloring under several vertex orderings (natural, largest-first,
smallest-last, incidence-degree), refined by iterated greedy (recoloring class by class never adds colors).
It stops as soon as the lower bound (the largest number of nonzeros in one row, for columns) is reached, and
keeps the fewest colors.  Every returned coloring has been validated.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from jacx._errors import JacxInternalError, JacxUsageError
from jacx.sparse._compress import Coloring, _as_csr, _collisions
from jacx.sparse._embed import graph_coordinates
from jacx.sparse._lattice import grid_shapes, lattice_coloring
from jacx.sparse._pattern import unique

__all__ = ["ORDERINGS", "color_columns", "color_rows"]

ORDERINGS = ("natural", "largest_first", "smallest_last", "incidence_degree")
_GRAPH_BUDGET = 30_000_000  # sum over rows of nnz^2 up to which every ordering is tried
_GRAPH_LIMIT = 300_000_000  # ... and beyond which the conflict graph is not built at all
_LOOP_ORDER_LIMIT = 1_000_000  # conflict-graph entries up to which the orderings computed by Python loops
# (smallest-last, incidence-degree: about a second per million entries) are tried; the vectorised ones always are
_LATTICE_ROW_LIMIT = 64  # the lattice search looks at all column pairs of a row
_MEX_TABLE = 4_000_000  # entries of the (vertices x colors) table a greedy round may use
_PROBE_COST = 20_000  # sum of nnz^2 up to which a quick greedy runs before the lattice search


def _conflict_graph(p: sp.csr_array) -> sp.csr_array:
    """Columns that share a row (the column intersection graph), without self loops."""
    g = sp.csr_array(p.T.tocsr() @ p)
    g.setdiag(False)
    g.eliminate_zeros()
    return g


def _greedy(g: sp.csr_array, order: Sequence[int] | np.ndarray, lists: list | None = None) -> np.ndarray:
    """Sequential greedy coloring of the graph ``g`` in ``order`` (first fit), computed in vectorised rounds.

    A vertex's greedy color depends only on the colors of its neighbours earlier in the order, so every vertex
    whose earlier neighbours are all colored can be colored at once (Jones-Plassmann rounds with the order as
    priority): the result is exactly the sequential one.  When the rounds make little progress (long chains of
    dependencies, as on a band in natural order) the remaining vertices are colored by a plain loop.
    """
    n = g.shape[0]
    indptr, indices = g.indptr.astype(np.int64), g.indices.astype(np.int64)
    order = np.asarray(order, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    deg = np.diff(indptr)
    src = np.repeat(np.arange(n), deg)
    pending = np.bincount(src[pos[indices] < pos[src]], minlength=n)
    colors = np.full(n, -1, dtype=np.int64)
    ready = np.nonzero(pending == 0)[0]
    done, rounds = 0, 0
    while len(ready):
        rounds += 1
        lens = deg[ready]
        total = int(lens.sum())
        owner = np.repeat(np.arange(len(ready)), lens)
        eidx = np.arange(total) + np.repeat(indptr[ready] - np.cumsum(lens) + lens, lens)
        nb = indices[eidx]
        c = colors[nb]
        seen = c >= 0  # exactly the earlier neighbours: the later ones are not colored yet
        width = int(c.max()) + 2 if total else 1
        if len(ready) * width <= _MEX_TABLE:  # smallest color not used by an earlier neighbour: a table lookup
            used = np.zeros((len(ready), width), dtype=bool)
            used[owner[seen], c[seen]] = True
            mex = used.argmin(axis=1)
        else:  # ... or, with many colors, by sorting (owner, color) pairs
            key = unique(owner[seen] * width + c[seen])
            o, cc = key // width, key % width
            rank = np.arange(len(key)) - np.searchsorted(o, o)
            mex = np.bincount(o, minlength=len(ready))
            miss = cc != rank
            np.minimum.at(mex, o[miss], rank[miss])
        colors[ready] = mex
        done += len(ready)
        later = nb[~seen]
        np.subtract.at(pending, later, 1)
        cand = later[pending[later] == 0]  # the vertices whose last earlier neighbour was just colored
        ready = unique(cand[colors[cand] < 0])
        if len(ready) and rounds >= 4 and done < 64 * rounds:  # a chain: finish sequentially
            ip, ix = lists if lists is not None else (indptr.tolist(), indices.tolist())
            out = colors.tolist()
            for v in order[colors[order] < 0].tolist():
                used = {out[u] for u in ix[ip[v]:ip[v + 1]]}
                k = 0
                while k in used:
                    k += 1
                out[v] = k
            return np.asarray(out, dtype=np.int64)
    return colors


def _first_fit_labels(colors: np.ndarray) -> np.ndarray:
    """Relabel colors in order of first appearance (column 0 gets color 0, and so on)."""
    _, first = np.unique(colors, return_index=True)
    relabel = np.empty(len(first), dtype=np.int64)
    relabel[np.argsort(first)] = np.arange(len(first))
    return relabel[colors]


def _order(name: str, indptr: list, indices: list, degree: np.ndarray) -> list[int]:
    n = len(degree)
    if name == "natural":
        return list(range(n))
    if name == "largest_first":
        return np.argsort(-degree, kind="stable").tolist()
    if name == "smallest_last":
        return _smallest_last(indptr, indices, degree)
    if name == "incidence_degree":
        return _incidence_degree(indptr, indices, n)
    raise JacxUsageError(
        f"coloring: received the ordering {name!r}; expected one of {', '.join(ORDERINGS)}. Fix: pick one of those."
    )


def _smallest_last(indptr: list, indices: list, degree: np.ndarray) -> list[int]:
    """Repeatedly remove a vertex of least remaining degree; color in reverse removal order."""
    deg = degree.tolist()
    buckets: dict[int, set[int]] = {}
    for v, d in enumerate(deg):
        buckets.setdefault(d, set()).add(v)
    removed = [False] * len(deg)
    out: list[int] = []
    low = 0
    for _ in range(len(deg)):
        while not buckets.get(low):
            low += 1
        v = buckets[low].pop()
        removed[v] = True
        out.append(v)
        for u in indices[indptr[v]:indptr[v + 1]]:
            if not removed[u]:
                buckets[deg[u]].discard(u)
                deg[u] -= 1
                buckets.setdefault(deg[u], set()).add(u)
                low = min(low, deg[u])
    return out[::-1]


def _incidence_degree(indptr: list, indices: list, n: int) -> list[int]:
    """Repeatedly take the vertex with the most already-ordered neighbours."""
    inc = [0] * n
    buckets: dict[int, set[int]] = {0: set(range(n))}
    done = [False] * n
    out: list[int] = []
    high = 0
    for _ in range(n):
        while not buckets.get(high):
            high -= 1
        v = min(buckets[high]) if high == 0 and not out else buckets[high].pop()
        buckets[high].discard(v)
        done[v] = True
        out.append(v)
        for u in indices[indptr[v]:indptr[v + 1]]:
            if not done[u]:
                buckets[inc[u]].discard(u)
                inc[u] += 1
                buckets.setdefault(inc[u], set()).add(u)
                high = max(high, inc[u])
    return out


def _iterated(g: sp.csr_array, colors: np.ndarray, lower: int, rounds: int = 3) -> np.ndarray:
    """Culberson's iterated greedy: recolor class by class (largest class first); never adds colors.

    In class order a vertex waits only for earlier classes, so the vectorised greedy needs few rounds here.
    """
    best = colors
    for _ in range(rounds):
        if int(best.max()) + 1 <= lower:
            break
        sizes = np.bincount(best)
        new = _greedy(g, np.lexsort((best, -sizes[best])))
        if new.max() >= best.max():
            break
        best = new
    return best


def _lazy(make: Callable[[], list]) -> Iterator:
    """Iterate over ``make()``, calling it only when the iteration gets that far."""
    yield from make()


def _graph(p: sp.csr_array) -> list[tuple[str, np.ndarray]]:
    """Lattice coordinates recovered from the graph of a square pattern (see ``_embed``), named by their extent."""
    coords = graph_coordinates(p)
    if coords is None:
        return []
    return [(f"{tuple(int(s) for s in coords.max(axis=0) + 1)} from the graph", coords)]


def _color(p: sp.csr_array, shape: tuple[int, ...] | None, orderings: Sequence[str], kind: str) -> Coloring:
    """Column coloring of ``p`` (the caller transposes for rows)."""
    for name in orderings:
        if name not in ORDERINGS:
            _order(name, [], [], np.zeros(0))  # raises the usage error
    m, n = p.shape
    row_nnz = np.diff(p.indptr)
    lower = int(row_nnz.max()) if m and n else 0
    if n == 0:
        return Coloring(np.zeros(0, dtype=np.int64), 0, kind, "empty")
    if p.nnz == 0:
        return Coloring(np.zeros(n, dtype=np.int64), 1, kind, "empty")
    if lower == 1:  # no two columns share a row: one product recovers everything
        return Coloring(np.zeros(n, dtype=np.int64), 1, kind, "disjoint")
    best = Coloring(np.arange(n, dtype=np.int64), n, kind, "trivial")
    if best.n_colors <= lower:  # a row as long as the whole pattern: one color per column is optimal
        return best
    cost = int((row_nnz.astype(np.int64) ** 2).sum())
    g = None
    if cost <= _PROBE_COST:  # small conflict graph: a vectorised largest-first greedy often hits the bound
        g = _conflict_graph(p)
        degree = np.diff(g.indptr)
        cols = _greedy(g, np.argsort(-degree, kind="stable"))
        k = int(cols.max()) + 1
        if k < best.n_colors:
            best = Coloring(_first_fit_labels(cols), k, kind, "largest_first")
    if best.n_colors > lower and (cost <= _GRAPH_BUDGET or lower <= _LATTICE_ROW_LIMIT):
        # the input's own shape, then the flat numbering (bands), then coordinates read off the pattern's graph
        # (a flat, interleaved or arbitrarily numbered grid), then grid shapes inferred from the index differences
        # (a flat state whose residual is not numbered like its unknowns), only while the bound is not reached
        given = [tuple(shape)] if shape and len(shape) > 1 else []
        found = _lazy(lambda: [] if given else _graph(p))
        inferred = _lazy(lambda: [] if given or best.method.endswith("from the graph") else
                         [(shp, shp) for shp in grid_shapes(p)])
        for name, where in itertools.chain([(s, s) for s in given], [((n,), (n,))], found, inferred):
            lat = lattice_coloring(p, where, lower, best.n_colors)
            if lat is not None and lat[1] < best.n_colors:
                used, compact = np.unique(lat[0], return_inverse=True)
                best = Coloring(compact.astype(np.int64), len(used), kind, f"lattice{name}")
            if best.n_colors <= lower:
                break
    # a lattice coloring within two colors of the lower bound is kept: on stencils greedy does far worse
    structured = best.method.startswith("lattice") and best.n_colors <= lower + 2
    if best.n_colors > lower and cost <= _GRAPH_LIMIT and not structured:
        if cost > _GRAPH_BUDGET:
            orderings = list(orderings)[:1]
        g = _conflict_graph(p) if g is None else g
        degree = np.diff(g.indptr)
        lists = None
        for name in orderings:
            looped = name in ("smallest_last", "incidence_degree")
            if looped and g.nnz > _LOOP_ORDER_LIMIT and len(orderings) > 1:
                continue
            if looped and lists is None:
                lists = (g.indptr.tolist(), g.indices.tolist())
            order = np.arange(n) if name == "natural" else np.argsort(-degree, kind="stable") \
                if name == "largest_first" else _order(name, *lists, degree)
            cols = _iterated(g, _greedy(g, order, lists), lower)
            k = int(cols.max()) + 1
            if k < best.n_colors:
                best = Coloring(_first_fit_labels(cols), k, kind, name)
            if best.n_colors <= lower:
                break
    if _collisions(p, best.colors, best.n_colors, "column"):
        raise JacxInternalError(f"coloring: the {best.method} coloring of a {m} x {n} pattern is invalid.")
    return best


def color_columns(
    pattern: object, *, shape: tuple[int, ...] | None = None, orderings: Sequence[str] = ORDERINGS
) -> Coloring:
    """Column coloring for forward mode: columns of one color never share a row.

    ``shape`` (the input array's shape) lets the lattice search recognise stencils on a grid.

    >>> import numpy as np, scipy.sparse as sp
    >>> from jacx.sparse import color_columns
    >>> tridiag = sp.diags_array([1.0, 1.0, 1.0], offsets=[-1, 0, 1], shape=(6, 6))
    >>> c = color_columns(tridiag != 0)
    >>> c.n_colors, c.colors
    (3, array([0, 1, 2, 0, 1, 2]))
    """
    p = _as_csr(pattern)
    return _color(p, shape, orderings, "column")


def color_rows(
    pattern: object, *, shape: tuple[int, ...] | None = None, orderings: Sequence[str] = ORDERINGS
) -> Coloring:
    """Row coloring for reverse mode: rows of one color never share a column.

    ``shape`` (the output array's shape) lets the lattice search recognise stencils on a grid.

    >>> import numpy as np
    >>> from jacx.sparse import color_rows
    >>> color_rows(np.array([[1, 1, 1], [0, 0, 1], [1, 0, 0]])).n_colors
    2
    """
    p = _as_csr(pattern)
    c = _color(sp.csr_array(p.T.tocsr()), shape, orderings, "row")
    return c
