"""Spy plot of a sparsity pattern, each nonzero coloured by the color group that recovers it."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from jacx.sparse._bicoloring import BiColoring
from jacx.sparse._compress import Coloring, _as_csr

__all__ = ["spy"]


_LEGEND_MAX = 20
"""Most color groups named one by one in a legend; more get a colorbar of group numbers instead."""


def _group_labels(coloring: Coloring | BiColoring) -> list[str]:
    """One label per color group: the product (``JVP i`` or ``VJP i``) that recovers its entries."""
    if isinstance(coloring, BiColoring):
        return ([f"JVP {i + 1}" for i in range(coloring.forward.n_colors)]
                + [f"VJP {i + 1}" for i in range(coloring.reverse.n_colors)])
    kind = "JVP" if coloring.kind == "column" else "VJP"
    return [f"{kind} {i + 1}" for i in range(coloring.n_colors)]


def spy(pattern: Any, coloring: Coloring | BiColoring | None = None, *, ax: Any = None, markersize: float = 0) -> Any:
    """Draw ``pattern`` (its nonzeros coloured by ``coloring``'s groups) on a matplotlib axes and return it.

    Each color group is the set of entries one product recovers; a legend beside the axes names the product of
    each colour (``JVP 1``, ``VJP 2``, ...), or, beyond 20 groups, a colorbar numbers them.  Without ``ax`` a new
    figure is made with room for the legend.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from jacx.sparse import color_columns, spy
    >>> p = np.eye(5, dtype=bool) | np.eye(5, k=1, dtype=bool)
    >>> ax = spy(p, color_columns(p))
    >>> ax.get_title()
    '5 x 5, 9 nonzeros, 2 colors (column)'
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['JVP 1', 'JVP 2']
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm
    from matplotlib.lines import Line2D

    p = _as_csr(pattern)
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    cols = p.indices
    if coloring is None:
        groups, title, k = None, f"{p.shape[0]} x {p.shape[1]}, {p.nnz} nonzeros", 0
    elif isinstance(coloring, BiColoring):
        kf = coloring.forward.n_colors
        groups = np.where(coloring.from_forward, coloring.forward.colors[cols], kf + coloring.reverse.colors[rows])
        k = coloring.n_colors
        title = f"{p.shape[0]} x {p.shape[1]}, {p.nnz} nonzeros, {kf} JVPs + {coloring.reverse.n_colors} VJPs"
    else:
        groups = coloring.colors[cols] if coloring.kind == "column" else coloring.colors[rows]
        k = coloring.n_colors
        title = f"{p.shape[0]} x {p.shape[1]}, {p.nnz} nonzeros, {k} colors ({coloring.kind})"
    if ax is None:
        width = 5.0 if k == 0 else 6.2 if k <= _LEGEND_MAX // 2 or k > _LEGEND_MAX else 7.2
        _, ax = plt.subplots(figsize=(width, 5), layout="constrained")
    size = markersize or max(0.5, min(30.0, 3000.0 / max(p.shape)))
    if groups is None:
        ax.scatter(cols, rows, color="tab:blue", s=size, marker="s", linewidths=0)
    else:
        cmap = plt.get_cmap("tab10" if k <= 10 else "tab20" if k <= _LEGEND_MAX else "turbo", k)
        norm = BoundaryNorm(np.arange(k + 1) - 0.5, k)
        points = ax.scatter(cols, rows, c=groups, cmap=cmap, norm=norm, s=size, marker="s", linewidths=0)
        if k <= _LEGEND_MAX:
            handles = [Line2D([], [], ls="none", marker="s", ms=7, color=cmap(g), label=label)
                       for g, label in enumerate(_group_labels(coloring))]
            ax.legend(handles=handles, title="color groups,\none product\neach", loc="upper left",
                      bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, title_fontsize=8,
                      ncols=1 if k <= _LEGEND_MAX // 2 else 2)
        else:
            bar = ax.figure.colorbar(points, ax=ax, label="color group (one product each)")
            ticks = np.unique(np.linspace(0, k - 1, 10).round().astype(int))
            labels = _group_labels(coloring)
            bar.set_ticks(ticks, labels=[labels[t] for t in ticks])
    ax.set_xlim(-0.5, p.shape[1] - 0.5)
    ax.set_ylim(p.shape[0] - 0.5, -0.5)
    ax.set_aspect("equal" if sp.issparse(p) else "auto")
    ax.set_xlabel("input index (column)")
    ax.set_ylabel("output index (row)")
    ax.set_title(title)
    return ax
