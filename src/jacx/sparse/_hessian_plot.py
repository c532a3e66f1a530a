"""Spy picture of a sparse Hessian: the symmetric pattern, each nonzero coloured by the Hessian-vector product it is
recovered from."""

from __future__ import annotations

from typing import Any

import numpy as np

from jacx._errors import JacxUsageError
from jacx.sparse._plot import _LEGEND_MAX
from jacx.sparse._symmetric import SymmetricColoring

__all__ = ["spy_hessian"]


def _entry_groups(coloring: SymmetricColoring) -> np.ndarray:
    """The product of each nonzero (CSR order of ``coloring.pattern``): for star the one it is read from, for
    acyclic the one its column is compressed into (off-diagonal entries are then solved for along their
    two-colored tree)."""
    if coloring.method == "star" and coloring.n_colors:
        return np.asarray(coloring._plan["color"])
    return np.asarray(coloring.colors)[coloring.pattern.indices]


def spy_hessian(hessian: Any, *, ax: Any = None, markersize: float = 0) -> Any:
    """Draw the symmetric pattern of a prepared :class:`~jacx.sparse.SparseHessian` (or of a
    :class:`~jacx.sparse.SymmetricColoring`) on a matplotlib axes, each nonzero coloured by its Hessian-vector
    product, and return the axes.

    With a star coloring a nonzero's colour is the product it is read from (both triangles of a pair share one);
    with an acyclic coloring it is the product its column is compressed into.  Up to 20 products a legend names
    them (``HVP 1``, ...); beyond, a colorbar numbers them.  Without ``ax`` a new figure is made with room for the
    legend.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from jacx.sparse import star_coloring, spy_hessian
    >>> path = np.eye(6) + np.eye(6, k=1) + np.eye(6, k=-1)
    >>> ax = spy_hessian(star_coloring(path))
    >>> ax.get_title()
    'Hessian 6 x 6, 16 nonzeros\\n3 HVPs (star coloring)'
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['HVP 1', 'HVP 2', 'HVP 3']
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm
    from matplotlib.patches import Patch

    coloring = getattr(hessian, "coloring", hessian)
    if not isinstance(coloring, SymmetricColoring):
        raise JacxUsageError(
            f"spy_hessian: received {type(hessian).__name__}; expected a prepared sparse Hessian "
            "(jacx.sparse.hessian(f, x)) or a SymmetricColoring. Fix: pass one of those."
        )
    p, k = coloring.pattern, int(coloring.n_colors)
    n = p.shape[0]
    rows = np.repeat(np.arange(n), np.diff(p.indptr))
    cols = p.indices
    groups = _entry_groups(coloring)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4 if k > _LEGEND_MAX // 2 else 5.8, 5), layout="constrained")
    size = markersize or float(np.clip(2500.0 / max(n, 1), 0.5, 40.0))
    palette = "tab10" if k <= 10 else "tab20" if k <= _LEGEND_MAX else "viridis"
    cmap = plt.get_cmap(palette, max(k, 1))
    dots = ax.scatter(cols, rows, c=groups, cmap=cmap, norm=BoundaryNorm(np.arange(max(k, 1) + 1) - 0.5, max(k, 1)),
                      s=size, marker="s", linewidths=0)
    if k <= _LEGEND_MAX:
        ax.legend(handles=[Patch(color=cmap(c), label=f"HVP {c + 1}") for c in range(k)], title="product",
                  loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, title_fontsize=8,
                  ncols=1 if k <= _LEGEND_MAX // 2 else 2)
    else:
        bar = ax.figure.colorbar(dots, ax=ax, label="Hessian-vector product")
        ticks = np.unique(np.linspace(0, k - 1, 8).round().astype(int))
        bar.set_ticks(ticks, labels=[str(t + 1) for t in ticks])
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("variable j (column)")
    ax.set_ylabel("variable i (row)")
    ax.set_title(f"Hessian {n} x {n}, {p.nnz} nonzeros\n{k} HVPs ({coloring.method} coloring)", fontsize=11)
    return ax
