"""Recognising structure in a square Jacobian from its sparsity pattern.

The pattern (which entries *can* be nonzero) comes from one of three places, in this order: a pattern passed
explicitly, a pattern the function *declares* (an object with a ``jacobian_pattern(x)`` method, as every jacx
bijector has), or :func:`jacx.sparse.sparsity` when that module is available.

From the pattern we read the block-triangular form: the strongly connected components of the directed graph
"output i depends on input j" are the diagonal blocks of a symmetric permutation that makes the matrix block
triangular, and the determinant is the product of the determinants of those blocks.  When every block has size 1
the Jacobian is (a permutation of) a triangular matrix and only its diagonal is needed.  The entries we need are
then measured with as few JVPs as possible: columns that never meet in a row we care about share one probe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal, final

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .._errors import JacxUsageError
from ._util import sparsity_or_none

__all__ = ["JacobianStructure", "analyze_pattern", "find_structure"]

Kind = Literal["diagonal", "triangular", "block-triangular", "dense"]


@final
@dataclasses.dataclass(frozen=True, eq=False)
class JacobianStructure:
    """What is known about the pattern of a square ``n x n`` Jacobian, and how to measure what matters.

    Attributes:
        kind: ``"diagonal"``, ``"triangular"`` (possibly after a symmetric permutation), ``"block-triangular"``
            or ``"dense"`` (no usable pattern, or one irreducible block).
        n: the size.
        block_sizes: sizes of the diagonal blocks (all 1 for diagonal/triangular; ``(n,)`` for dense).
        num_jvps: JVPs needed to measure the diagonal blocks (the number of probe colors), or ``n`` without a pattern.
        source: where the pattern came from: ``"given"``, ``"declared"``, ``"sparsity"`` or ``"none"``.

    >>> import numpy as np
    >>> s = analyze_pattern(np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=bool))
    >>> s.kind, s.num_jvps
    ('triangular', 3)
    >>> analyze_pattern(np.eye(4, dtype=bool)).num_jvps
    1
    """

    kind: Kind
    n: int
    block_sizes: tuple[int, ...]
    num_jvps: int
    source: str
    # How to measure: probe matrix (n, num_jvps), the color of each column, the pattern, the blocks grouped by size.
    seeds: np.ndarray | None = dataclasses.field(repr=False, default=None)
    colors: np.ndarray | None = dataclasses.field(repr=False, default=None)
    groups: tuple[tuple[np.ndarray, np.ndarray], ...] = dataclasses.field(repr=False, default=())

    def describe(self) -> str:
        """A short plain-words description of the path, e.g. ``'triangular (2 JVPs, pattern declared)'``.

        >>> analyze_pattern([[True, False], [True, True]]).describe()
        'triangular (2 JVPs, pattern given)'
        """
        jvps = f"{self.num_jvps} JVP" + ("" if self.num_jvps == 1 else "s")
        if self.kind == "block-triangular":
            sizes = sorted(set(self.block_sizes), reverse=True)
            shape = f"{len(self.block_sizes)} blocks, largest {sizes[0]}"
            return f"block-triangular ({shape}; {jvps}, pattern {self.source})"
        if self.source in ("none", "declared dense"):
            return f"dense ({jvps}, {'no pattern' if self.source == 'none' else 'declared dense'})"
        return f"{self.kind} ({jvps}, pattern {self.source})"


def _as_bool_csr(pattern: Any) -> sp.csr_array:
    if sp.issparse(pattern):
        p = sp.csr_array(pattern, dtype=bool)
    else:
        arr = np.asarray(pattern)
        if arr.ndim != 2:
            raise JacxUsageError(
                f"received a sparsity pattern with shape {arr.shape}; expected a 2-D (n, n) boolean array or scipy "
                "sparse matrix. Fix: pass the pattern of the flattened Jacobian."
            )
        p = sp.csr_array(arr.astype(bool))
    if p.shape[0] != p.shape[1]:
        raise JacxUsageError(
            f"received a sparsity pattern of shape {p.shape}; a determinant or trace needs a square (n, n) pattern. "
            "Fix: pass the pattern of a map from R^n to R^n."
        )
    p.eliminate_zeros()
    p.sort_indices()
    return p


def _greedy_coloring(conflict: sp.csr_array) -> np.ndarray:
    """Color vertices so that neighbours differ (largest degree first); returns the color of each vertex."""
    n = conflict.shape[0]
    indptr, indices = conflict.indptr, conflict.indices
    degree = np.diff(indptr)
    colors = np.full(n, -1, dtype=np.int64)
    for v in np.argsort(-degree, kind="stable"):
        used = colors[indices[indptr[v] : indptr[v + 1]]]
        used = used[(used >= 0) & (used <= degree[v])]
        free = np.ones(degree[v] + 1, dtype=bool)
        free[used] = False
        colors[v] = int(np.argmax(free))
    return colors


def analyze_pattern(pattern: Any, *, source: str = "given") -> JacobianStructure:
    """Analyse a boolean ``(n, n)`` Jacobian pattern: block-triangular form and the probes that measure its blocks.

    Args:
        pattern: dense boolean array or scipy sparse matrix; ``pattern[i, j]`` true when output ``i`` may depend
            on input ``j``.
        source: recorded in the result (for the path description).

    >>> import numpy as np
    >>> coupling = np.eye(4, dtype=bool); coupling[2:, :2] = True   # RealNVP: [[I, 0], [A, D]]
    >>> s = analyze_pattern(coupling)
    >>> s.kind, s.num_jvps
    ('triangular', 2)
    """
    p = _as_bool_csr(pattern)
    n = p.shape[0]
    _, labels = connected_components(p, directed=True, connection="strong")
    rows, cols = p.nonzero()
    off_diag = rows != cols
    sizes = np.bincount(labels)
    if not off_diag.any():
        kind: Kind = "diagonal"
    elif sizes.max() == 1:
        kind = "triangular"
    elif sizes.size == 1:
        kind = "dense"
    else:
        kind = "block-triangular"
    # Entries we must measure: those inside a diagonal block.  Columns j, k conflict when some row i needs
    # J[i, j] and also has J[i, k] possibly nonzero (or the other way round): they cannot share a probe.
    inside = labels[rows] == labels[cols]
    wanted = sp.csr_array((np.ones(int(inside.sum()), dtype=np.int32), (rows[inside], cols[inside])), shape=(n, n))
    pint = sp.csr_array(p, dtype=np.int32)
    conflict = sp.csr_array(wanted.T @ pint)
    conflict = sp.csr_array(conflict + conflict.T)
    conflict.setdiag(0)
    conflict.eliminate_zeros()
    colors = _greedy_coloring(conflict) if n else np.zeros(0, dtype=np.int64)
    num_colors = int(colors.max()) + 1 if n else 0
    seeds = np.zeros((n, num_colors))
    seeds[np.arange(n), colors] = 1.0
    # Diagonal blocks grouped by size: (block indices (k, s), structural mask (k, s, s)).
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    blocks = [order[starts[c] : starts[c + 1]] for c in range(sizes.size)]
    dense_p = None
    groups = []
    for size in sorted(set(sizes.tolist())):
        idx = np.stack([b for b in blocks if b.size == size])
        if size == 1:
            mask = p[idx[:, 0], idx[:, 0]].reshape(-1, 1, 1)
        else:
            if dense_p is None:
                dense_p = p.toarray() if n <= 8192 else None
            mask = (
                dense_p[idx[:, :, None], idx[:, None, :]]
                if dense_p is not None
                else np.stack([p[b][:, b].toarray() for b in idx])
            )
        groups.append((idx, np.asarray(mask, dtype=bool)))
    return JacobianStructure(
        kind=kind,
        n=n,
        block_sizes=tuple(int(s) for s in sizes),
        num_jvps=num_colors,
        source=source,
        seeds=seeds,
        colors=colors,
        groups=tuple(groups),
    )


def _no_pattern(n: int, source: str = "none") -> JacobianStructure:
    return JacobianStructure(kind="dense", n=n, block_sizes=(n,), num_jvps=n, source=source)


def find_structure(f: Callable[..., Any], x: Any, n: int, structure: Any = "auto") -> JacobianStructure:
    """The :class:`JacobianStructure` of ``f`` at ``x`` (flattened size ``n``), from ``structure``.

    ``structure`` is ``"auto"`` (declared pattern, else :func:`jacx.sparse.sparsity`, else none), ``"dense"``
    (ignore any pattern), a boolean pattern, or a :class:`JacobianStructure`.  A declared pattern may also be the
    string ``"dense"`` (known to have no structure: skip detection).

    >>> import jax.numpy as jnp
    >>> find_structure(jnp.tanh, jnp.ones(3), 3, structure="dense").describe()
    'dense (3 JVPs, no pattern)'
    >>> find_structure(jnp.tanh, jnp.ones(3), 3).describe()         # found by jacx.sparse.sparsity
    'diagonal (1 JVP, pattern sparsity)'
    >>> find_structure(jnp.tanh, jnp.ones(3), 3, structure=jnp.eye(3, dtype=bool)).describe()
    'diagonal (1 JVP, pattern given)'
    """
    if isinstance(structure, JacobianStructure):
        if structure.n != n:
            raise JacxUsageError(f"received a JacobianStructure of size {structure.n} for an input of size {n}.")
        return structure
    if isinstance(structure, str):
        if structure == "dense":
            return _no_pattern(n)
        if structure != "auto":
            raise JacxUsageError(
                f"received structure={structure!r}; expected 'auto', 'dense', a boolean (n, n) pattern or a "
                "JacobianStructure."
            )
        declared = getattr(f, "jacobian_pattern", None)
        if callable(declared):
            pattern = declared(x)
            if isinstance(pattern, str) and pattern == "dense":
                return _no_pattern(n, "declared dense")
            if pattern is not None:
                return _checked(analyze_pattern(pattern, source="declared"), n)
        pattern, source = sparsity_or_none(f, x)
        if pattern is None:
            return _no_pattern(n)
        return _checked(analyze_pattern(pattern, source=source), n)
    return _checked(analyze_pattern(structure, source="given"), n)


def _checked(s: JacobianStructure, n: int) -> JacobianStructure:
    if s.n != n:
        raise JacxUsageError(
            f"received a sparsity pattern of size {s.n} x {s.n} for a function whose flattened input has {n} "
            f"entries; expected {n} x {n}. Fix: give the pattern of the flattened Jacobian."
        )
    return s


def diagonal_probes(pattern: Any) -> tuple[np.ndarray, np.ndarray]:
    """Probe matrix ``(n, c)`` and column colors that measure the diagonal of a Jacobian with this pattern.

    Columns ``j`` and ``k`` may share a probe unless ``J[j, k]`` or ``J[k, j]`` can be nonzero.

    >>> import numpy as np
    >>> seeds, colors = diagonal_probes(np.eye(5, dtype=bool) | np.eye(5, k=1, dtype=bool))  # bidiagonal
    >>> seeds.shape
    (5, 2)
    """
    p = _as_bool_csr(pattern)
    n = p.shape[0]
    pint = sp.csr_array(p, dtype=np.int32)
    conflict = sp.csr_array(pint + pint.T)
    conflict.setdiag(0)
    conflict.eliminate_zeros()
    colors = _greedy_coloring(conflict) if n else np.zeros(0, dtype=np.int64)
    seeds = np.zeros((n, int(colors.max()) + 1 if n else 0))
    seeds[np.arange(n), colors] = 1.0
    return seeds, colors
