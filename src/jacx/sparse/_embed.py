"""Recover lattice coordinates from a pattern's graph, whatever the numbering of the unknowns.

A stencil on a grid makes the pattern of a square Jacobian the adjacency of a grid graph (plus the couplings
between fields at one point).  The directions of such a graph can be read off the graph alone.  At a vertex of
largest degree, two neighbours lie in opposite directions when they have no common neighbour but that vertex
(two different directions close a square); this gives the axes.  The labels then travel along a breadth-first
tree: when ``a -> b`` carries label ``L``, the edge ``b -> a`` carries ``-L``, an edge ``b -> d`` that closes a
square ``a - b - d - c`` carries the label of ``a -> c`` (opposite sides of a square are translates), and the one
edge left over goes straight on and carries ``L`` again.  Summing the unit steps along the tree gives every
vertex integer coordinates, and a direction that closes into a cycle (a periodic axis) is reduced modulo its
length.  Every edge's label is then checked against its reverse's; any inconsistency means "not a lattice".

The coordinates are only a proposal: :func:`jacx.sparse._lattice.lattice_coloring` validates every coloring it
derives from them against the pattern, so a graph that merely looks like a lattice costs time, never a wrong
coloring.  The work is whole-array NumPy per breadth-first level (``degree^3`` comparisons per vertex).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from jacx.sparse._pattern import unique

__all__ = ["graph_coordinates"]

_MAX_DEGREE = 8  # a stencil graph has few neighbours per vertex
_MAX_DIMS = 4  # at most this many directions (x, y, z and a field axis)
_MAX_COMPONENTS = 64


def _neighbours(p: sp.csr_array) -> np.ndarray | None:
    """The symmetric graph of a square pattern (``i ~ j`` when entry ``(i, j)`` or ``(j, i)`` is stored, ``i != j``)
    as an ``(n + 1) x degree`` table of neighbours, padded with ``n`` (row ``n`` is all padding)."""
    n = p.shape[0]
    coo = p.tocoo()
    off = coo.row != coo.col
    r, c = coo.row[off].astype(np.int64), coo.col[off].astype(np.int64)
    key = unique(np.concatenate([r * n + c, c * n + r]))  # both directions, sorted by (row, column)
    if len(key) == 0:
        return None
    rows, cols = key // n, key % n
    deg = np.bincount(rows, minlength=n)
    if int(deg.max()) > _MAX_DEGREE:
        return None
    start = np.concatenate([[0], np.cumsum(deg)[:-1]])
    nb = np.full((n + 1, int(deg.max())), n, dtype=np.int32 if n < 2**31 - 1 else np.int64)
    nb[rows, np.arange(len(key)) - start[rows]] = cols
    return nb


def _root_labels(nb: np.ndarray, r: int) -> np.ndarray | None:
    """Labels ``+-(axis + 1)`` of the edges at ``r``: opposite neighbours share no neighbour but ``r``."""
    n, width = nb.shape[0] - 1, nb.shape[1]
    nbr = nb[r]
    near = nb[nbr]  # (W, W): neighbours of each neighbour
    common = ((near[:, None, :, None] == near[None, :, None, :]) & (near[:, None, :, None] < n)).sum((-1, -2))
    labels = np.zeros(width, dtype=np.int64)
    axis = 0
    for i in range(width):
        if nbr[i] == n or labels[i]:
            continue
        axis += 1
        labels[i] = axis
        partner = [j for j in range(i + 1, width) if nbr[j] < n and not labels[j] and common[i, j] == 1]
        if len(partner) > 1:
            return None
        if partner:
            labels[partner[0]] = -axis
    return labels if axis <= _MAX_DIMS else None


def graph_coordinates(p: sp.csr_array) -> np.ndarray | None:
    """Integer lattice coordinates (``n x dims``, non-negative) for the unknowns of a square pattern, or ``None``
    when its graph does not look like a lattice.

    >>> import numpy as np, scipy.sparse as sp
    >>> n = 12; perm = np.random.default_rng(0).permutation(n)   # a ring, numbered at random
    >>> ring = sp.csr_array((np.ones(2 * n, bool), (np.r_[perm, perm], np.r_[np.roll(perm, 1), np.roll(perm, -1)])),
    ...                     shape=(n, n))
    >>> x = graph_coordinates(ring)[:, 0]
    >>> sorted(set(((x[perm] - np.roll(x[perm], 1)) % n).tolist()))   # ring neighbours are one step apart
    [1]
    """
    m, n = p.shape
    if m != n or n < 4 or int(np.diff(p.indptr).max()) > _MAX_DEGREE + 1:  # a row longer than a stencil's
        return None
    nb = _neighbours(p)
    if nb is None:
        return None
    width = nb.shape[1]
    live = nb[:n] < n
    graph = sp.csr_array((np.ones(int(live.sum()), bool), (np.nonzero(live)[0], nb[:n][live])), shape=(n, n))
    n_comp, comp = csgraph.connected_components(graph, directed=False)
    if n_comp > _MAX_COMPONENTS:
        return None
    parent = np.arange(n, dtype=np.int64)
    degree = live.sum(1)
    root_of = np.zeros(n_comp, dtype=np.int64)
    root_labels = np.zeros((n_comp, width), dtype=np.int64)
    for c in range(n_comp):
        members = np.nonzero(comp == c)[0]
        r = int(members[np.argmax(degree[members])])
        labels = _root_labels(nb, r)
        if labels is None:
            return None
        root_of[c], root_labels[c] = r, labels
        _, pred = csgraph.breadth_first_order(graph, r, directed=False, return_predecessors=True)
        has = pred >= 0
        parent[has] = pred[has]
    # each tree edge a -> b maps a's edge labels to b's: label_b[k] = sign[k] * label_a[source[k]]
    b = np.nonzero(parent != np.arange(n))[0]
    a = parent[b]
    nb_a, nb_b = nb[a], nb[b]
    into = (nb_a == b[:, None]).argmax(-1)  # the slot of a -> b
    back = nb_b == a[:, None]
    # slot k of b (d = nb_b[:, k]) closes a square with slot i of a (c = nb_a[:, i]) when c ~ d
    c = nb_a[:, None, :]
    meets = ((nb[nb_b][:, :, None, :] == c[..., None]).any(-1) & (c < n) & (c != b[:, None, None])
             & (nb_b < n)[:, :, None] & ~back[:, :, None])
    hits = meets.sum(-1)
    rest = (nb_b < n) & ~back & (hits == 0)  # the edge straight on
    if np.any(hits > 1) or np.any(rest.sum(-1) > 1):
        return None
    source = np.tile(np.arange(width), (n, 1))
    sign = np.ones((n, width), dtype=np.int64)
    source[b] = np.where(hits == 1, meets.argmax(-1), into[:, None])
    sign[b] = np.where(back, -1, np.where((hits == 1) | rest, 1, 0))
    jump = parent  # compose the maps up the tree by pointer doubling: (source, sign) then map jump[v] to v
    while np.any(jump[jump] != jump):
        src_up = source[jump]
        sign = sign * np.take_along_axis(sign[jump], source, axis=1)
        source = np.take_along_axis(src_up, source, axis=1)
        jump = jump[jump]
    label = np.zeros((n + 1, width), dtype=np.int64)
    label[:n] = sign * np.take_along_axis(root_labels[comp], source, axis=1)
    roots = root_of.tolist()
    # consistency: every edge's label is minus its reverse's, and every edge has one
    head = np.where(live, nb[:n], n)
    rev = label[head, (nb[head] == np.arange(n)[:, None, None]).argmax(-1)]
    lab = label[:n]
    if np.any(live & ((lab == 0) | (rev != -lab))):
        return None
    dims = int(np.abs(lab).max())
    child = np.nonzero(parent != np.arange(n))[0]
    step = label[parent[child], (nb[parent[child]] == child[:, None]).argmax(-1)]
    coords = np.zeros((n, dims), dtype=np.int64)
    coords[child, np.abs(step) - 1] = np.sign(step)
    jump = parent  # invariant: coords[v] sums the steps from v up to (not including) jump[v]
    while np.any(jump[jump] != jump):  # pointer doubling until every vertex points at its root
        coords, jump = coords + coords[jump], jump[jump]
    # a direction that closes into a cycle (a periodic axis) is reduced modulo the cycle's length
    for axis in range(1, dims + 1):
        slot = np.nonzero(label[roots[0]] == axis)[0]
        if not len(slot):
            continue
        start = v = roots[0]
        for period in range(1, n + 1):
            k = np.nonzero(label[v] == axis)[0]
            if not len(k):
                break
            v = int(nb[v, k[0]])
            if v == start:
                coords[:, axis - 1] %= period
                break
    return coords - coords.min(axis=0)
