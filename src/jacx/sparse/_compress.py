"""Colorings as plain data: which columns (or rows) share a product, with compress/decompress and validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from jacx._errors import JacxUsageError
from jacx.sparse._pattern import duplicates

__all__ = ["Coloring", "InvalidColoringError", "check_coloring"]


class InvalidColoringError(JacxUsageError):
    """A coloring does not allow exact recovery of the Jacobian from its compressed products."""


def _as_csr(pattern: object) -> sp.csr_array:
    p = sp.csr_array(pattern) if sp.issparse(pattern) else sp.csr_array(np.asarray(pattern) != 0)
    p = sp.csr_array(p.astype(bool))
    p.eliminate_zeros()
    p.sort_indices()
    return p


@dataclass(frozen=True)
class Coloring:
    """A partition of the columns (``kind="column"``, forward mode) or rows (``"row"``, reverse mode).

    ``colors[i]`` is the color of column/row ``i`` (``-1``: not seeded), ``n_colors`` the number of products and
    ``method`` the heuristic that found it.  ``compress`` forms the products with a dense or sparse Jacobian and
    ``decompress`` recovers the Jacobian values from them.

    >>> import numpy as np
    >>> from jacx.sparse import Coloring
    >>> J = np.array([[1., 2., 0.], [0., 3., 4.]])
    >>> c = Coloring(colors=np.array([0, 1, 0]), n_colors=2, kind="column", method="by hand")
    >>> B = c.compress(J)
    >>> B
    array([[1., 2.],
           [4., 3.]])
    >>> c.decompress(B, J != 0).toarray()
    array([[1., 2., 0.],
           [0., 3., 4.]])
    """

    colors: np.ndarray
    n_colors: int
    kind: Literal["column", "row"]
    method: str = ""

    @property
    def groups(self) -> list[np.ndarray]:
        """The indices of each color class, in color order."""
        order = np.argsort(self.colors, kind="stable")
        counts = np.bincount(self.colors[self.colors >= 0], minlength=self.n_colors)
        live = order[self.colors[order] >= 0]
        return np.split(live, np.cumsum(counts)[:-1])

    def seeds(self) -> np.ndarray:
        """The seed matrix: (n, n_colors) for columns, (m, n_colors) for rows, with ones where colored."""
        s = np.zeros((len(self.colors), self.n_colors))
        live = self.colors >= 0
        s[np.nonzero(live)[0], self.colors[live]] = 1.0
        return s

    def compress(self, jac: object) -> np.ndarray:
        """The compressed products: ``J @ S`` (m x colors) for columns, ``S.T @ J`` (colors x n) for rows."""
        j = jac if sp.issparse(jac) else np.asarray(jac)
        s = self.seeds()
        out = j @ s if self.kind == "column" else (sp.csr_array(j).T @ s).T if sp.issparse(j) else s.T @ j
        return np.asarray(out.toarray() if sp.issparse(out) else out)

    def decompress(self, compressed: np.ndarray, pattern: object) -> sp.csr_array:
        """Recover the Jacobian (a ``csr_array`` with the sparsity ``pattern``) from ``compress``'s output."""
        p = _as_csr(pattern)
        rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
        cols = p.indices
        b = np.asarray(compressed)
        vals = b[rows, self.colors[cols]] if self.kind == "column" else b[self.colors[rows], cols]
        return sp.csr_array((vals, cols.copy(), p.indptr.copy()), shape=p.shape)

    def is_valid(self, pattern: object) -> bool:
        """Whether every nonzero of ``pattern`` can be recovered exactly (no two in a product collide)."""
        p = _as_csr(pattern)
        return _collisions(p, self.colors, self.n_colors, self.kind) == 0


def _collisions(p: sp.csr_array, colors: np.ndarray, n_colors: int, kind: str) -> int:
    """Number of nonzeros that share a compressed slot with another nonzero."""
    if p.nnz == 0:
        return 0
    rows = np.repeat(np.arange(p.shape[0], dtype=np.int64), np.diff(p.indptr))
    cols = p.indices.astype(np.int64)
    if kind == "column":
        c = colors[cols]
        if (c < 0).any():
            return int((c < 0).sum())
        key = rows * n_colors + c
    else:
        c = colors[rows]
        if (c < 0).any():
            return int((c < 0).sum())
        key = cols * n_colors + c
    return duplicates(key, int(max(p.shape)) * max(n_colors, 1))


def check_coloring(pattern: object, coloring: Coloring) -> None:
    """Raise :class:`InvalidColoringError` unless ``coloring`` recovers every nonzero of ``pattern`` exactly.

    >>> import numpy as np
    >>> from jacx.sparse import Coloring, check_coloring
    >>> check_coloring(np.eye(3), Coloring(np.zeros(3, int), 1, "column"))
    >>> check_coloring(np.ones((2, 2)), Coloring(np.zeros(2, int), 1, "column"))
    Traceback (most recent call last):
    ...
    jacx.sparse._compress.InvalidColoringError: ...
    """
    p = _as_csr(pattern)
    size = p.shape[1] if coloring.kind == "column" else p.shape[0]
    if len(coloring.colors) != size:
        raise InvalidColoringError(
            f"check_coloring: received a {coloring.kind} coloring of {len(coloring.colors)} entries for a "
            f"{p.shape[0]} x {p.shape[1]} pattern; expected {size}. Fix: color the same pattern you check."
        )
    bad = _collisions(p, np.asarray(coloring.colors), coloring.n_colors, coloring.kind)
    if bad:
        raise InvalidColoringError(
            f"check_coloring: {bad} nonzeros collide with another nonzero in the same {coloring.kind} product; "
            "expected none. Fix: use jacx.sparse.color_columns / color_rows, which always return valid colorings."
        )
