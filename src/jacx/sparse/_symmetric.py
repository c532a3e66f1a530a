"""Symmetric colorings of a Hessian pattern: star coloring (direct recovery) and acyclic coloring (recovery by
substitution), as plain data.

A Hessian ``H`` is symmetric, so ``H[i, j]`` can be read from the product with either ``i``'s or ``j``'s color
class.  Two classical colorings of the adjacency graph of ``H`` (vertices = variables, an edge per off-diagonal
nonzero) exploit this (Gebremedhin, Manne and Pothen, SIAM Review 2005; Gebremedhin, Tarafdar, Manne and
Pothen, SIAM J. Sci. Comput. 2007):

* a *star coloring* is a proper coloring in which every path on four vertices uses at least three colors (the
  subgraph on any two colors is a forest of stars); every nonzero is then read directly from one product;
* an *acyclic coloring* is a proper coloring in which every cycle uses at least three colors (the subgraph on any
  two colors is a forest); every nonzero is then obtained by substitution along the trees of that forest.

Every star coloring is acyclic, so the fewest acyclic colors never exceed the fewest star colors, but greedy
heuristics give no such guarantee for one instance.  Both greedy algorithms here color one vertex at a time in a
given order and give it the smallest color that keeps the coloring star (acyclic): the two-colored stars (trees)
built so far are tracked so that each test is exact.  For large patterns a distance-2 coloring of the columns (a
valid star coloring, found by :func:`jacx.sparse.color_columns`'s vectorised and lattice searches) is also tried
and the fewest colors kept.

Recovery runs inside JAX programs: the star recovery is one gather; the acyclic recovery computes every edge of a
two-colored tree as a signed sum over the subtree below it (one gather, one segmented prefix sum over the trees
laid out in depth-first order, two gathers), so the compiled program has a fixed number of steps however long
the trees are.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from jacx._errors import JacxInternalError, JacxUsageError

__all__ = ["SymmetricColoring", "acyclic_coloring", "acyclic_pays", "forest_lower_bound", "largest_row",
           "recover_with", "star_coloring", "symmetric_coloring", "symmetric_pattern"]

SYMMETRIC_ORDERINGS = ("natural", "largest_first", "smallest_last")
_METHODS = ("auto", "star", "acyclic")
_LOOP_BUDGET = 4_000_000  # sum over vertices of (degree^2) up to which every ordering runs the Python greedy
_LOOP_LIMIT = 20_000_000  # ... and beyond which "auto" and star_coloring skip it (about 20 s in Python)
# the cost model of "auto" (nanoseconds on XLA:CPU, medians over the benchmark objectives at n = 10^4): one
# Hessian-vector product of a batch costs about _HVP_NS per variable (1.2 on a 3D stencil energy, 10 on a mesh
# energy: it depends on f), recovering one nonzero about _STAR_NS by star's gather and _ACYCLIC_NS by acyclic
# substitution (gathers and a segmented scan)
_HVP_NS = 4.0
_STAR_NS = 2.2
_ACYCLIC_NS = 8.5


def symmetric_pattern(pattern: object, where: str = "symmetric coloring") -> sp.csr_array:
    """``pattern`` as a boolean CSR array, made symmetric (``P | P.T``) and with its whole diagonal."""
    p = sp.csr_array(pattern) if sp.issparse(pattern) else sp.csr_array(np.asarray(pattern) != 0)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise JacxUsageError(
            f"{where}: received a pattern of shape {p.shape}; expected a square (n, n) Hessian pattern. "
            "Fix: pass the sparsity of a Hessian (jacx.sparse.hessian_sparsity)."
        )
    p = sp.csr_array(p.astype(bool))
    p = sp.csr_array((p + p.T + sp.eye_array(p.shape[0], dtype=bool, format="csr")).astype(bool))
    p.eliminate_zeros()
    p.sort_indices()
    p.indptr = p.indptr.astype(np.int64)
    p.indices = p.indices.astype(np.int64)
    return p


def _adjacency(p: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The off-diagonal part of a symmetric pattern: ``(indptr, indices, rows, edge id per entry)``."""
    n = p.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(p.indptr))
    off = rows != p.indices
    r, c = rows[off], p.indices[off].astype(np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    key = np.minimum(r, c) * n + np.maximum(r, c)
    _, eid = np.unique(key, return_inverse=True)
    return indptr, c, r, eid.astype(np.int64)


@dataclass(frozen=True)
class SymmetricColoring:
    """A star or acyclic coloring of a symmetric pattern, with its seeds and its recovery.

    ``pattern`` is the symmetric boolean CSR pattern (with its whole diagonal) that was colored, ``colors[i]`` the
    color of variable ``i`` and ``n_colors`` the number of Hessian-vector products.  ``compress(H)`` forms
    ``H @ seeds()``; ``recover(compressed)`` returns the nonzeros of ``H`` in the CSR order of ``pattern`` from
    those products (with NumPy for NumPy input, else with ``jax.numpy``, traceable); ``decompress`` returns a
    ``csr_array``.

    >>> import numpy as np, scipy.sparse as sp
    >>> from jacx.sparse import star_coloring, acyclic_coloring
    >>> H = sp.diags_array([[1.0] * 5, [2.0] * 6, [1.0] * 5], offsets=[-1, 0, 1]).toarray()
    >>> star, acyc = star_coloring(H != 0), acyclic_coloring(H != 0)
    >>> (star.n_colors, star.is_valid()), (acyc.n_colors, acyc.is_valid())
    ((3, True), (2, True))
    >>> bool(np.allclose(acyc.decompress(acyc.compress(H)).toarray(), H))
    True
    """

    method: Literal["star", "acyclic"]
    colors: np.ndarray
    n_colors: int
    pattern: sp.csr_array
    ordering: str = ""

    def seeds(self) -> np.ndarray:
        """The seed matrix ``(n, n_colors)``: ``seeds[i, c] = 1`` where variable ``i`` has color ``c``."""
        s = np.zeros((len(self.colors), self.n_colors))
        s[np.arange(len(self.colors)), self.colors] = 1.0
        return s

    def compress(self, hessian: object) -> np.ndarray:
        """``H @ seeds()`` for a dense or SciPy sparse ``H`` (what the Hessian-vector products compute)."""
        h = hessian if sp.issparse(hessian) else np.asarray(hessian)
        out = h @ self.seeds()
        return np.asarray(out.toarray() if sp.issparse(out) else out)

    def is_valid(self) -> bool:
        """Whether the coloring is a proper star (every path on four vertices has at least three colors, and so
        every nonzero is read from one product) or acyclic (no two-colored cycle) coloring of ``pattern``."""
        p, colors = self.pattern, np.asarray(self.colors)
        n = p.shape[0]
        if colors.shape != (n,) or (n and (colors.min() < 0 or colors.max() >= self.n_colors)):
            return False
        indptr, indices, rows, _ = _adjacency(p)
        if (colors[rows] == colors[indices]).any():
            return False
        if self.method == "star":
            return _star_direct(indptr, indices, rows, colors, self.n_colors)[1]
        return _forests_acyclic(rows, indices, colors, n)

    @functools.cached_property
    def _plan(self) -> dict[str, Any]:
        if not self.is_valid():
            raise JacxInternalError(f"symmetric coloring: the {self.method} coloring is not valid for its pattern.")
        return _plan(self)

    def recover(self, compressed: Any) -> Any:
        """The nonzeros of ``H`` in CSR order of ``pattern`` from ``compressed = H @ seeds()`` of shape
        ``(n, n_colors)``; NumPy in, NumPy out, otherwise ``jax.numpy`` (traceable, one program of fixed size)."""
        return self.recover_from(compressed, transposed=False)

    def recover_from(self, compressed: Any, transposed: bool = False) -> Any:
        """:meth:`recover`, or from ``compressed.T`` (``(n_colors, n)``, the layout of a batch of products) when
        ``transposed``."""
        k, n = self.n_colors, self.pattern.shape[0]
        expect = (k, n) if transposed else (n, k)
        if tuple(np.shape(compressed)) != expect:
            raise JacxUsageError(
                f"symmetric recovery: received compressed products of shape {tuple(np.shape(compressed))}; expected "
                f"{expect}. Fix: pass H @ seeds() (n, n_colors)."
            )
        if isinstance(compressed, np.ndarray):
            return recover_with(self.method, self.recovery_arrays(transposed), compressed.ravel(), np)
        import jax.numpy as jnp

        return recover_with(self.method, self.recovery_arrays(transposed), jnp.ravel(compressed), jnp)

    def recovery_arrays(self, transposed: bool = False) -> dict[str, np.ndarray]:
        """The index arrays of the recovery, as flat positions into ``compressed`` (``(n, n_colors)``, or
        ``(n_colors, n)`` when ``transposed``), for :func:`recover_with`."""
        plan = self._plan
        k, n = self.n_colors, self.pattern.shape[0]
        idx = np.int32 if n * max(k, 1) < 2**31 - 1 else np.int64

        def at(vertex: np.ndarray, color: np.ndarray) -> np.ndarray:
            return (color * n + vertex if transposed else vertex * k + color).astype(idx)

        if self.method == "star":
            return {"src": at(plan["vertex"], plan["color"])}
        return {"diag": at(plan["dvertex"], plan["dcolor"]), "node": at(plan["node_vertex"], plan["node_color"]),
                "node_sign": plan["node_sign"].astype(np.int8), "node_start": plan["node_start"],
                "child_sign": plan["child_sign"].astype(np.int8), "child_first": plan["child_first"].astype(idx),
                "child_last": plan["child_last"].astype(idx), "order": plan["order"].astype(idx)}

    def decompress(self, compressed: Any) -> sp.csr_array:
        """The Hessian as a ``csr_array`` with the pattern ``pattern`` (NumPy, float64)."""
        vals = np.asarray(self.recover(np.asarray(compressed, dtype=np.float64)))
        p = self.pattern
        return sp.csr_array((vals, p.indices.copy(), p.indptr.copy()), shape=p.shape)

    def __repr__(self) -> str:
        n = self.pattern.shape[0]
        return f"SymmetricColoring(method={self.method!r}, n={n}, n_colors={self.n_colors}, ordering={self.ordering!r})"


def recover_with(method: str, arrays: dict[str, Any], flat: Any, xp: Any) -> Any:
    """The nonzeros in CSR order from the flat compressed products ``flat`` with the index ``arrays`` of
    :meth:`SymmetricColoring.recovery_arrays` (NumPy or ``jax.numpy`` as ``xp``; the arrays may be traced)."""
    if method == "star":
        return flat[arrays["src"]]
    diag = flat[arrays["diag"]]
    if arrays["node"].shape[0] == 0:
        return diag[arrays["order"]]
    w = flat[arrays["node"]] * arrays["node_sign"].astype(flat.dtype)
    incl = _segmented_cumsum(w, arrays["node_start"], xp)
    edge = arrays["child_sign"].astype(flat.dtype) * (incl[arrays["child_last"]] - incl[arrays["child_first"] - 1])
    return xp.concatenate([diag, edge])[arrays["order"]]


def _segmented_cumsum(w: Any, start: np.ndarray, xp: Any) -> Any:
    """Inclusive prefix sums of ``w`` restarting where ``start`` is true (an associative scan in JAX)."""
    if xp is np:
        out = np.empty_like(w)
        start = np.asarray(start)
        seg = np.cumsum(start) - 1
        cs = np.cumsum(w)
        first = np.flatnonzero(start)
        base = cs[first] - w[first]
        out[:] = cs - base[seg]
        return out
    import jax

    def op(a: tuple, b: tuple) -> tuple:
        return xp.where(b[1], b[0], a[0] + b[0]), a[1] | b[1]

    return jax.lax.associative_scan(op, (w, xp.asarray(start)))[0]


# ----------------------------------------------------------------------------------------------- validity helpers
def _star_direct(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, colors: np.ndarray,
                 k: int) -> tuple[np.ndarray, bool]:
    """For each off-diagonal entry (i, j): whether H[i, j] is alone in product ``color(j)`` of row ``i``; and
    whether every entry can be read directly from one side (i alone, or j alone)."""
    key = rows * max(k, 1) + colors[indices]
    counts = np.bincount(key, minlength=len(colors) * max(k, 1))
    alone = counts[key] == 1
    if not len(rows):
        return alone, True
    # the mirror entry (j, i) of each (i, j): both sorted by (min, max) pair then by row
    order = np.lexsort((rows, np.maximum(rows, indices), np.minimum(rows, indices)))
    mirror = np.empty_like(order)
    mirror[order[0::2]] = order[1::2]
    mirror[order[1::2]] = order[0::2]
    ok = alone | alone[mirror]
    # for a proper coloring this is the star condition: an entry (i, j) readable from neither side means another
    # neighbour k of i colored like j and another neighbour l of j colored like i, i.e. the path k-i-j-l on two
    # colors; conversely the middle edge of such a path is readable from neither side
    return alone, bool(ok.all())


def _forests_acyclic(rows: np.ndarray, cols: np.ndarray, colors: np.ndarray, n: int) -> bool:
    """Whether the subgraph on every pair of colors is a forest (edges = vertices - components)."""
    g, _, _ = _pair_graph(rows, cols, colors, n)
    if g is None:
        return True
    n_comp, _ = csgraph.connected_components(g, directed=False)
    n_edges = g.nnz // 2
    return n_edges == g.shape[0] - n_comp


def _pair_graph(rows: np.ndarray, cols: np.ndarray, colors: np.ndarray,
                n: int) -> tuple[sp.csr_array | None, np.ndarray, np.ndarray]:
    """The union of the two-colored subgraphs as one graph over nodes ``(vertex, other color)``: the entry
    (i, j) joins node (i, color j) and node (j, color i).  Returns the graph, the node of each entry and the
    ``(vertex, color)`` code of each node."""
    if not len(rows):
        return None, np.zeros(0, np.int64), np.zeros(0, np.int64)
    k = int(colors.max()) + 1
    code = rows * k + colors[cols]
    codes, node = np.unique(code, return_inverse=True)
    mirror_code = cols * k + colors[rows]
    other = np.searchsorted(codes, mirror_code)
    g = sp.csr_array((np.ones(len(node), dtype=np.int8), (node, other)), shape=(len(codes), len(codes)))
    g.sum_duplicates()
    return g, node.astype(np.int64), codes


# ----------------------------------------------------------------------------------------------------- plans
def _plan(c: SymmetricColoring) -> dict[str, Any]:
    """The NumPy index arrays of the recovery."""
    p, colors, k = c.pattern, np.asarray(c.colors, dtype=np.int64), c.n_colors
    n = p.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(p.indptr))
    cols = p.indices.astype(np.int64)
    diag = rows == cols
    if c.method == "star":
        indptr, indices, r, _ = _adjacency(p)
        alone, _ = _star_direct(indptr, indices, r, colors, k)
        # entries of the off-diagonal adjacency follow the CSR order of p without its diagonal; both entries of a
        # pair are read from the same product (so the result is exactly symmetric): the upper entry (i < j) is
        # read from row i when it is alone there, else from row j, and its mirror follows it
        vertex, color = rows.copy(), colors[cols].copy()
        off = np.flatnonzero(~diag)
        lo, hi = np.minimum(r, indices), np.maximum(r, indices)
        order = np.lexsort((r, hi, lo))  # each pair's two entries side by side, the upper (row lo) first
        upper_alone = np.repeat(alone[order[0::2]], 2)
        from_lo = np.empty(len(r), dtype=bool)
        from_lo[order] = upper_alone
        take_other = np.where(r == lo, ~from_lo, from_lo)  # read (j, color i) instead of (i, color j)
        vertex[off[take_other]] = cols[off[take_other]]
        color[off[take_other]] = colors[rows[off[take_other]]]
        return {"vertex": vertex, "color": color}
    off = np.flatnonzero(~diag)
    r, q = rows[off], cols[off]
    g, node, codes = _pair_graph(r, q, colors, n)
    plan: dict[str, Any] = {"dvertex": rows[diag], "dcolor": colors[rows[diag]]}
    m = 0 if g is None else g.shape[0]
    if m == 0:
        plan.update(node_vertex=np.zeros(0, np.int64), node_color=np.zeros(0, np.int64),
                    node_sign=np.zeros(0), node_start=np.zeros(0, bool), child_sign=np.zeros(0),
                    child_first=np.zeros(0, np.int64), child_last=np.zeros(0, np.int64))
        plan["order"] = np.argsort(np.concatenate([np.flatnonzero(diag), off]), kind="stable")
        return plan
    pre, pred, size = _forest_layout(g)
    pos = np.empty(m, dtype=np.int64)
    pos[pre] = np.arange(m)
    nv, nc = codes // k, codes % k  # node = (vertex, the other color of its tree)
    # signs alternate along a tree: +1 on the smaller of the tree's two colors
    sign = np.where(colors[nv] < nc, 1.0, -1.0)
    start = np.zeros(m, dtype=bool)
    start[pos[pred < 0]] = True  # tree roots start a segment of the depth-first layout
    # the entry (i, j) is the tree edge between node (i, cj) and node (j, ci): its value is the signed sum over the
    # subtree of the child node
    mirror = np.searchsorted(codes, q * k + colors[r])
    child = np.where(pred[node] == mirror, node, mirror)
    if not (pred[child] == np.where(child == node, mirror, node)).all():
        raise JacxInternalError("symmetric recovery: an edge of a two-colored tree is not a tree edge.")
    first = pos[child]
    plan.update(node_vertex=nv[pre], node_color=nc[pre], node_sign=sign[pre], node_start=start,
                child_sign=sign[child], child_first=first, child_last=first + size[child] - 1)
    plan["order"] = np.argsort(np.concatenate([np.flatnonzero(diag), off]), kind="stable")
    return plan


def _forest_layout(g: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A depth-first layout of a forest: the nodes in preorder, each node's parent (-1 for roots) and the size of
    its subtree (so the subtree of ``v`` is the run of ``size[v]`` nodes from ``v``'s position)."""
    m = g.shape[0]
    n_comp, labels = csgraph.connected_components(g, directed=False)
    _, roots = np.unique(labels, return_index=True)
    # one extra node joined to one node of every tree: a single depth-first search lays out the whole forest
    coo = g.tocoo()
    r = np.concatenate([coo.row, np.full(n_comp, m), roots])
    c = np.concatenate([coo.col, roots, np.full(n_comp, m)])
    big = sp.csr_array((np.ones(len(r), dtype=np.int8), (r, c)), shape=(m + 1, m + 1))
    order, pred = csgraph.depth_first_order(big, m, directed=True, return_predecessors=True)
    order = order[1:].astype(np.int64)
    pred = pred[:m].astype(np.int64)
    pred[pred == m] = -1
    pred[pred < 0] = -1
    size = np.ones(m, dtype=np.int64)
    sz, pr = size.tolist(), pred.tolist()
    for v in order[::-1].tolist():  # children after their parents in preorder: sum sizes bottom-up
        parent = pr[v]
        if parent >= 0:
            sz[parent] += sz[v]
    return order, pred, np.asarray(sz, dtype=np.int64)


# ------------------------------------------------------------------------------------------------ greedy loops
def _orders(indptr: np.ndarray, indices: np.ndarray, orderings: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Each ordering (names already checked by :func:`_check_orderings`) as a list of vertices."""
    from jacx.sparse._coloring import _order

    degree = np.diff(indptr)
    lists = (indptr.tolist(), indices.tolist())
    return [(name, _order(name, *lists, degree)) for name in orderings]


def _greedy_star(ip: list, ix: list, order: list[int]) -> list[int]:
    """Greedy star coloring: each vertex takes the smallest color that leaves no two-colored path on 4 vertices.

    Coloring ``v`` with ``c`` creates a two-colored path on four vertices exactly when (a) a neighbour ``w`` of
    ``v`` has a neighbour ``x`` of color ``c`` that already has another neighbour colored like ``w`` (path
    ``v-w-x-y``), or (b) ``v`` has two neighbours of one color ``d`` and one of them has a neighbour of color
    ``c`` (path ``y-w-v-w'``).  ``count[(x, d)]`` holds how many neighbours of color ``d`` vertex ``x`` has.
    """
    n = len(ip) - 1
    color = [-1] * n
    count: dict[int, int] = {}
    forbidden: list[int] = [-1] * (n + 1)
    big = n + 1
    for v in order:
        nb = ix[ip[v]:ip[v + 1]]
        colored = [w for w in nb if color[w] >= 0]
        seen: dict[int, int] = {}
        for w in colored:
            cw = color[w]
            forbidden[cw] = v
            seen[cw] = seen.get(cw, 0) + 1
        for w in colored:
            cw = color[w]
            twice = seen[cw] >= 2
            for x in ix[ip[w]:ip[w + 1]]:
                cx = color[x]
                if cx < 0 or x == v or forbidden[cx] == v:
                    continue
                if twice or count.get(x * big + cw, 0) >= 2:
                    forbidden[cx] = v
        c = 0
        while forbidden[c] == v:
            c += 1
        color[v] = c
        for w in nb:
            key = w * big + c
            count[key] = count.get(key, 0) + 1
    return color


def _find(parent: list[int], e: int) -> int:
    while parent[e] != e:
        parent[e] = parent[parent[e]]
        e = parent[e]
    return e


def _greedy_acyclic(ip: list, ix: list, eid: list, n_edges: int, order: list[int]) -> list[int]:
    """Greedy acyclic coloring: each vertex takes the smallest color that closes no two-colored cycle.

    The edges between colored vertices are kept as disjoint sets, one per two-colored tree.  Coloring ``v`` with
    the color of ``x`` closes a cycle exactly when two neighbours of ``v`` lie in one tree that contains ``x``:
    for every colored neighbour ``w`` and colored neighbour ``x`` of ``w`` the tree of edge ``w-x`` is noted
    with ``w``; meeting it again from another neighbour forbids the color of ``x``.  Once ``v`` is colored its
    edges join the trees of its two-colored neighbourhoods.
    """
    n = len(ip) - 1
    color = [-1] * n
    parent = list(range(n_edges))
    forbidden = [-1] * (n + 1)
    first_v = [-1] * n_edges  # the vertex being colored when the tree was first met...
    first_w = [-1] * n_edges  # ... and the neighbour it was met through
    for v in order:
        lo, hi = ip[v], ip[v + 1]
        for t in range(lo, hi):
            w = ix[t]
            if color[w] >= 0:
                forbidden[color[w]] = v
        for t in range(lo, hi):
            w = ix[t]
            if color[w] < 0:
                continue
            for s in range(ip[w], ip[w + 1]):
                x = ix[s]
                cx = color[x]
                if cx < 0 or x == v or forbidden[cx] == v:
                    continue
                r = _find(parent, eid[s])
                if first_v[r] != v:
                    first_v[r], first_w[r] = v, w
                elif first_w[r] != w:
                    forbidden[cx] = v
        c = 0
        while forbidden[c] == v:
            c += 1
        color[v] = c
        by_color: dict[int, int] = {}
        for t in range(lo, hi):
            w = ix[t]
            cw = color[w]
            if cw < 0 or w == v:
                continue
            e = eid[t]
            if cw in by_color:  # two neighbours of one color: their edges to v lie in one tree
                a, b = _find(parent, e), _find(parent, by_color[cw])
                if a != b:
                    parent[a] = b
            else:
                by_color[cw] = e
            for s in range(ip[w], ip[w + 1]):
                x = ix[s]
                if x != v and color[x] == c:
                    a, b = _find(parent, e), _find(parent, eid[s])
                    if a != b:
                        parent[a] = b
    return color


# ------------------------------------------------------------------------------------------------ entry points
def _relabel(colors: np.ndarray) -> tuple[np.ndarray, int]:
    used, compact = np.unique(colors, return_inverse=True)
    return compact.astype(np.int64), len(used)


def _check_orderings(orderings: Any) -> tuple[str, ...]:
    if isinstance(orderings, str):
        orderings = (orderings,)
    orderings = tuple(orderings)
    for name in orderings:
        if name not in SYMMETRIC_ORDERINGS:
            raise JacxUsageError(
                f"symmetric coloring: received the ordering {name!r}; expected one of "
                f"{', '.join(SYMMETRIC_ORDERINGS)} (or a sequence of them). Fix: pick one of those."
            )
    if not orderings:
        raise JacxUsageError("symmetric coloring: received no ordering; expected at least one. Fix: omit `order`.")
    return orderings


def _cost(indptr: np.ndarray) -> int:
    return int((np.diff(indptr).astype(np.int64) ** 2).sum())


def largest_row(pattern: object) -> int:
    """The largest number of nonzeros in one row of the symmetric pattern (diagonal included): the fewest
    products any *column* (distance-2) coloring needs, i.e. what ignoring the symmetry costs at least.  It is not
    a lower bound for star or acyclic colorings (an arrowhead has a full row and needs 2 colors).

    >>> import numpy as np
    >>> arrow = np.eye(5); arrow[0, :] = arrow[:, 0] = 1
    >>> largest_row(arrow), forest_lower_bound(arrow)
    (5, 2)
    """
    p = symmetric_pattern(pattern)
    return int(np.diff(p.indptr).max()) if p.shape[0] else 0


def forest_lower_bound(pattern: object) -> int:
    """A lower bound on the colors of every acyclic (hence every star) coloring: the two-colored subgraphs are
    forests, so ``k`` colors cover at most ``(k - 1) n - k (k - 1) / 2`` edges; the smallest such ``k``.

    >>> import numpy as np
    >>> forest_lower_bound(np.ones((4, 4)))
    4
    """
    p = symmetric_pattern(pattern)
    n = p.shape[0]
    edges = (p.nnz - n) // 2
    if n == 0:
        return 0
    k = 1
    while (k - 1) * n - k * (k - 1) // 2 < edges:
        k += 1
    return k


def star_coloring(pattern: object, order: str | Sequence[str] = SYMMETRIC_ORDERINGS, *,
                  loop_limit: int = _LOOP_LIMIT) -> SymmetricColoring:
    """A star coloring of the symmetric pattern ``pattern`` (made symmetric, diagonal added): the fewest colors
    over the greedy star coloring in each ordering of ``order`` (``"natural"``, ``"largest_first"``,
    ``"smallest_last"``) and a distance-2 coloring of the columns (also a star coloring).

    Every star coloring is acyclic, so :func:`forest_lower_bound` bounds it from below; the largest row does not
    (an arrowhead needs 2 colors).

    >>> import numpy as np
    >>> from jacx.sparse import star_coloring
    >>> arrow = np.eye(6); arrow[0, :] = arrow[:, 0] = 1
    >>> c = star_coloring(arrow)
    >>> c.n_colors, c.colors.tolist(), c.is_valid()
    (2, [0, 1, 1, 1, 1, 1], True)
    """
    return _color_pattern(pattern, "star", order, loop_limit)


def acyclic_coloring(pattern: object, order: str | Sequence[str] = SYMMETRIC_ORDERINGS, *,
                     loop_limit: int | None = None) -> SymmetricColoring:
    """An acyclic coloring of the symmetric pattern ``pattern`` (made symmetric, diagonal added): the fewest
    colors over the greedy acyclic coloring in each ordering of ``order`` and the best star coloring (every star
    coloring is acyclic).  Recovery is by substitution along the two-colored trees.

    ``loop_limit`` (sum over vertices of degree squared) skips the greedy acyclic search on larger patterns (it
    runs in Python, about a second per million steps); ``None`` never skips it.

    >>> import numpy as np
    >>> from jacx.sparse import acyclic_coloring
    >>> path = np.eye(6) + np.eye(6, k=1) + np.eye(6, k=-1)
    >>> c = acyclic_coloring(path)
    >>> c.n_colors, c.colors.tolist(), c.is_valid()
    (2, [0, 1, 0, 1, 0, 1], True)
    """
    return _color_pattern(pattern, "acyclic", order, loop_limit)


def _color_pattern(pattern: object, method: str, order: str | Sequence[str],
                   loop_limit: int | None) -> SymmetricColoring:
    """:func:`star_coloring` and :func:`acyclic_coloring`: the orderings checked, the pattern made symmetric."""
    orderings = _check_orderings(order)
    return _color(symmetric_pattern(pattern, f"{method}_coloring"), method, orderings, loop_limit)


def symmetric_coloring(pattern: object, method: str = "auto",
                       order: str | Sequence[str] = SYMMETRIC_ORDERINGS) -> SymmetricColoring:
    """The star (``method="star"``), acyclic (``"acyclic"``) or, with ``"auto"``, whichever of the two is predicted
    to evaluate faster (:func:`acyclic_pays`): acyclic only when the products it saves outweigh its dearer
    recovery, else star (its recovery is a plain gather).  The acyclic search is skipped when not even the forest
    lower bound would pay.

    >>> import numpy as np
    >>> from jacx.sparse import symmetric_coloring
    >>> path = np.eye(8) + np.eye(8, k=1) + np.eye(8, k=-1)
    >>> [(c.method, c.n_colors) for c in (symmetric_coloring(path, m) for m in ("acyclic", "auto"))]
    [('acyclic', 2), ('star', 3)]
    """
    if method not in _METHODS:
        raise JacxUsageError(
            f"symmetric coloring: received method={method!r}; expected one of {', '.join(map(repr, _METHODS))}. "
            "Fix: pass one of those (\"auto\" picks the faster one)."
        )
    orderings = _check_orderings(order)
    p = symmetric_pattern(pattern)
    star = _color(p, "star", orderings, _LOOP_LIMIT)
    if method == "star":
        return star
    if method == "auto" and not acyclic_pays(p, star.n_colors, forest_lower_bound(p)):
        return star  # not even the fewest possible acyclic colors would pay for the substitution: no search
    acyc = _color(p, "acyclic", orderings, _LOOP_LIMIT if method == "auto" else None, star=star)
    if method == "acyclic":
        return acyc
    return acyc if acyclic_pays(p, star.n_colors, acyc.n_colors) else star


def acyclic_pays(pattern: sp.csr_array, star_colors: int, acyclic_colors: int) -> bool:
    """Whether an acyclic coloring with ``acyclic_colors`` colors is predicted to evaluate faster than a star
    coloring with ``star_colors`` on the symmetric ``pattern``: the products it saves (about ``_HVP_NS`` per
    variable each) must outweigh its dearer recovery (``_ACYCLIC_NS`` instead of ``_STAR_NS`` per nonzero).  The
    constants were measured on XLA:CPU; the cost of a product depends on ``f``, so near the break-even point the
    prediction can be wrong either way (then the two evaluate at about the same speed).

    >>> import numpy as np
    >>> path = np.eye(8) + np.eye(8, k=1) + np.eye(8, k=-1)  # star 3, acyclic 2: one product is not worth it
    >>> acyclic_pays(symmetric_pattern(path), 3, 2)
    False
    >>> arrow = np.eye(100); arrow[0, :] = arrow[:, 0] = 1   # (a star coloring that ignored the hub would need 100)
    >>> acyclic_pays(symmetric_pattern(arrow), 100, 2)
    True
    """
    n = pattern.shape[0]
    saved = (star_colors - acyclic_colors) * _HVP_NS * n
    return bool(saved > (_ACYCLIC_NS - _STAR_NS) * pattern.nnz)


def _hub_star(p: sp.csr_array, color_columns: Any) -> tuple[np.ndarray, int] | None:
    """A star coloring that gives each dense row (degree above ``sqrt(nnz)``) a color of its own and colors the
    rest distance-2 among themselves (vectorised): a two-colored path on four vertices would repeat each color,
    which a hub's color never is, and among the rest distance-2 colors differ.  ``None`` without dense rows.
    An arrowhead gets 2 colors where the distance-2 coloring of the whole pattern needs n."""
    degree = np.diff(p.indptr)
    hubs = degree > max(8.0, float(np.sqrt(p.nnz)))
    if not hubs.any() or hubs.all():
        return None
    rest = np.flatnonzero(~hubs)
    colors = np.empty(p.shape[0], np.int64)
    colors[hubs] = np.arange(int(hubs.sum()))
    sub = color_columns(sp.csr_array(p[rest][:, rest]))
    colors[rest] = int(hubs.sum()) + np.asarray(sub.colors, np.int64)
    return _relabel(colors)


def _color(p: sp.csr_array, method: str, orderings: Sequence[str], loop_limit: int | None,
           star: SymmetricColoring | None = None) -> SymmetricColoring:
    n = p.shape[0]
    if n == 0:
        return SymmetricColoring(method, np.zeros(0, np.int64), 0, p, "empty")  # type: ignore[arg-type]
    indptr, indices, _, eid = _adjacency(p)
    if len(indices) == 0:
        return SymmetricColoring(method, np.zeros(n, np.int64), 1, p, "diagonal")  # type: ignore[arg-type]
    cost = _cost(indptr)
    best: SymmetricColoring | None = None
    if method == "star":
        from jacx.sparse._coloring import color_columns

        d2 = color_columns(p)  # distance-2: vectorised, lattice-aware; always a star coloring
        colors, k = _relabel(d2.colors)
        best = SymmetricColoring("star", colors, k, p, f"distance-2 ({d2.method})")
        hubbed = _hub_star(p, color_columns)
        if hubbed is not None and hubbed[1] < best.n_colors:
            best = SymmetricColoring("star", hubbed[0], hubbed[1], p, "hubs + distance-2")
    else:
        if star is None:
            star = _color(p, "star", orderings, _LOOP_LIMIT)
        best = SymmetricColoring("acyclic", star.colors, star.n_colors, p, f"star ({star.ordering})")
    if loop_limit is not None and cost > loop_limit:
        names: Sequence[str] = ()
    elif cost > _LOOP_BUDGET:
        names = orderings[:1]
    else:
        names = orderings
    if names and best.n_colors > 2:
        ip, ix = indptr.tolist(), indices.tolist()
        el = eid.tolist() if method == "acyclic" else []
        for name, order in _orders(indptr, indices, names):
            if method == "star":
                found = _greedy_star(ip, ix, order)
            else:
                found = _greedy_acyclic(ip, ix, el, int(eid.max()) + 1, order)
            colors, k = _relabel(np.asarray(found, dtype=np.int64))
            if k < best.n_colors:
                best = SymmetricColoring(method, colors, k, p, name)  # type: ignore[arg-type]
            if best.n_colors <= 2:
                break
    if not best.is_valid():
        raise JacxInternalError(f"symmetric coloring: the {method} coloring ({best.ordering}) is invalid.")
    return best
