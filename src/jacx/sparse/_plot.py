"""Spy plot of a sparsity pattern, each nonzero coloured by the color group that recovers it."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from jacx.sparse._bicoloring import BiColoring
from jacx.sparse._compress import Coloring, _as_csr

__all__ = ["spy"]


def spy(pattern: Any, coloring: Coloring | BiColoring | None = None, *, ax: Any = None, markersize: float = 0) -> Any:
    """Draw ``pattern`` (its nonzeros coloured by ``coloring``'s groups) on a matplotlib axes and return it.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from jacx.sparse import color_columns, spy
    >>> p = np.eye(5, dtype=bool) | np.eye(5, k=1, dtype=bool)
    >>> ax = spy(p, color_columns(p))
    >>> ax.get_title()
    '5 x 5, 9 nonzeros, 2 colors (column)'
    """
    import matplotlib.pyplot as plt

    p = _as_csr(pattern)
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    cols = p.indices
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    size = markersize or max(0.5, min(30.0, 3000.0 / max(p.shape)))
    if coloring is None:
        groups, title = np.zeros(len(rows), dtype=int), f"{p.shape[0]} x {p.shape[1]}, {p.nnz} nonzeros"
        k = 1
    elif isinstance(coloring, BiColoring):
        kf = coloring.forward.n_colors
        groups = np.where(coloring.from_forward, coloring.forward.colors[cols], kf + coloring.reverse.colors[rows])
        k = coloring.n_colors
        title = f"{p.shape[0]} x {p.shape[1]}, {p.nnz} nonzeros, {kf} JVPs + {coloring.reverse.n_colors} VJPs"
    else:
        groups = coloring.colors[cols] if coloring.kind == "column" else coloring.colors[rows]
        k = coloring.n_colors
        title = f"{p.shape[0]} x {p.shape[1]}, {p.nnz} nonzeros, {k} colors ({coloring.kind})"
    cmap = plt.get_cmap("tab20" if k > 10 else "tab10", max(k, 1))
    ax.scatter(cols, rows, c=groups, cmap=cmap, vmin=-0.5, vmax=max(k, 1) - 0.5, s=size, marker="s", linewidths=0)
    ax.set_xlim(-0.5, p.shape[1] - 0.5)
    ax.set_ylim(p.shape[0] - 0.5, -0.5)
    ax.set_aspect("equal" if sp.issparse(p) else "auto")
    ax.set_xlabel("input index")
    ax.set_ylabel("output index")
    ax.set_title(title)
    return ax
