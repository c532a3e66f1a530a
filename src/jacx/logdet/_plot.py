"""Pictures of how a 2-D map changes area: the deformed grid and a heatmap of ``det J``.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state, no display needed); save them
with ``fig.savefig(path)``.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.colors import SymLogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .._errors import JacxUsageError, NonSquareJacobianError

__all__ = ["VolumeMap", "volume_map", "plot_map"]


@final
@dataclasses.dataclass(frozen=True)
class VolumeMap:
    """``det J`` of a 2-D map sampled on a grid, and the share of the window where the map expands, contracts or
    reverses orientation.

    Attributes:
        xs, ys: grid coordinates (1-D).
        det: ``det J`` at the grid points, shape ``(len(ys), len(xs))``; ``nan`` where the map itself is undefined
            (``log(x)`` for ``x <= 0``) or not finite.
        expands, contracts, reverses: fractions of the grid points where the map is defined with ``|det| > 1``,
            ``|det| < 1``, ``det < 0``.
        undefined: fraction of all grid points where the map is undefined (its value is ``nan`` or infinite).

    >>> import jax.numpy as jnp
    >>> vm = volume_map(lambda p: jnp.array([p[1], p[0]]), resolution=5)     # a swap: area kept, orientation not
    >>> vm.summary()
    'expands on 0% of the window, contracts on 0%, reverses orientation on 100%'
    """

    xs: np.ndarray
    ys: np.ndarray
    det: np.ndarray
    expands: float
    contracts: float
    reverses: float
    undefined: float = 0.0

    def summary(self) -> str:
        """One line: e.g. ``'expands on 75% of the window, contracts on 25%, reverses orientation on 0%'`` (shares of
        the part of the window where the map is defined; the undefined share is added when there is one)."""
        text = (
            f"expands on {self.expands:.0%} of the window, contracts on {self.contracts:.0%}, "
            f"reverses orientation on {self.reverses:.0%}"
        )
        return text + (f"; the map is undefined on {self.undefined:.0%}" if self.undefined > 0 else "")


def _check_map(f: Callable[[jax.Array], jax.Array]) -> None:
    out = jax.eval_shape(f, jax.ShapeDtypeStruct((2,), jnp.float32))
    if getattr(out, "shape", None) != (2,):
        raise NonSquareJacobianError(
            f"the map must send a point (x, y) to a point (u, v); received a function returning "
            f"{getattr(out, 'shape', type(out).__name__)} for input shape (2,). Fix: return jnp.array([u, v])."
        )


def _check_window(xlim: tuple[float, float], ylim: tuple[float, float], resolution: int) -> None:
    for name, (a, b) in (("xlim", xlim), ("ylim", ylim)):
        if not (np.isfinite(a) and np.isfinite(b) and a < b):
            raise JacxUsageError(f"received {name}=({a}, {b}); expected two finite numbers with low < high.")
    if resolution < 2:
        raise JacxUsageError(f"received resolution={resolution}; expected at least 2 points per axis.")


def volume_map(
    f: Callable[[jax.Array], jax.Array],
    xlim: tuple[float, float] = (-2.0, 2.0),
    ylim: tuple[float, float] = (-2.0, 2.0),
    resolution: int = 200,
) -> VolumeMap:
    """Sample ``det J_f`` of a map ``R^2 -> R^2`` on a grid.

    >>> import jax.numpy as jnp
    >>> square = lambda p: jnp.array([p[0] ** 2 - p[1] ** 2, 2 * p[0] * p[1]])   # z -> z^2, det = 4 |z|^2
    >>> vm = volume_map(square, resolution=101)
    >>> float(vm.det[50, 75])                                  # at (x, y) = (1, 0)
    4.0
    >>> vm.reverses
    0.0
    """
    _check_map(f)
    _check_window(xlim, ylim, resolution)
    xs, ys = np.linspace(*xlim, resolution), np.linspace(*ylim, resolution)
    gx, gy = np.meshgrid(xs, ys)
    pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=jnp.float32)
    det, defined = _det_where_defined(f, pts)
    det, defined = det.reshape(resolution, resolution), defined.reshape(resolution, resolution)
    finite = np.isfinite(det)
    total = max(int(finite.sum()), 1)
    return VolumeMap(
        xs=xs,
        ys=ys,
        det=det,
        expands=float(np.sum(finite & (np.abs(det) > 1)) / total),
        contracts=float(np.sum(finite & (np.abs(det) < 1)) / total),
        reverses=float(np.sum(finite & (det < 0)) / total),
        undefined=float(np.mean(~defined)),
    )


def _det_where_defined(f: Callable[[jax.Array], jax.Array], pts: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """``det J`` at the points (``nan`` where the map is undefined) and where the map is defined (finite).

    AD happily differentiates ``log(x)`` at ``x = -1`` (to ``1/x``), so the map's own value decides."""
    values = np.asarray(jax.jit(jax.vmap(f))(pts), dtype=np.float64)
    det = np.asarray(jax.jit(jax.vmap(lambda p: jnp.linalg.det(jax.jacfwd(f)(p))))(pts), dtype=np.float64)
    defined = np.all(np.isfinite(values), axis=-1)
    return np.where(defined, det, np.nan), defined


def _poles(f: Callable[[jax.Array], jax.Array], vm: VolumeMap, samples: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Where ``|det J|`` blows up: points on the pole curves, and a mask of the grid points next to them.

    Between two neighbouring grid points, ``det J`` may change sign (through a zero or through a pole), peak
    sharply (a pole of even order, such as ``-1/x^2``) or stop being defined (``log(x)`` at ``x = 0``).  Such an
    edge is sampled finely: it holds a pole if ``|det J|`` inside grows well beyond its value at both ends."""
    det = vm.det
    points, near = [], np.zeros(det.shape, dtype=bool)
    grid = [(det, vm.xs, vm.ys, False), (det.T, vm.ys, vm.xs, True)]
    starts, ends, where = [], [], []
    for d, along, across, transposed in grid:
        a, b = d[:, :-1], d[:, 1:]
        fa, fb = np.isfinite(a), np.isfinite(b)
        with np.errstate(invalid="ignore"):
            sign_change = fa & fb & (a * b < 0)
            big = np.maximum(np.abs(a), np.abs(b))
            padded = np.pad(np.abs(d), ((0, 0), (1, 1)), constant_values=np.nan)
            outer = np.fmax(padded[:, :-3], padded[:, 3:])
            spike = fa & fb & ~sign_change & (big > 2 * outer)
        boundary = fa ^ fb
        for r, c in zip(*np.nonzero(sign_change | spike | boundary)):
            p0, p1 = (along[c], across[r]), (along[c + 1], across[r])
            if transposed:
                p0, p1 = p0[::-1], p1[::-1]
            starts.append(p0)
            ends.append(p1)
            where.append(((c, r), (c + 1, r)) if transposed else ((r, c), (r, c + 1)))
    if not starts:
        return np.zeros((0, 2)), near
    t = np.linspace(0.0, 1.0, samples + 2)[1:-1]
    p0, p1 = np.asarray(starts), np.asarray(ends)
    fine = p0[:, None, :] + t[None, :, None] * (p1 - p0)[:, None, :]
    fd, _ = _det_where_defined(f, jnp.asarray(fine.reshape(-1, 2), dtype=jnp.float32))
    fd = np.abs(fd.reshape(len(starts), samples))
    ends_abs = np.fmax(np.abs(det[tuple(np.asarray([w[0] for w in where]).T)]),
                       np.abs(det[tuple(np.asarray([w[1] for w in where]).T)]))
    with np.errstate(invalid="ignore"):
        peak = np.nanmax(np.where(np.isfinite(fd), fd, np.nan), axis=1, initial=0.0)
        is_pole = (peak > 2 * ends_abs) | np.any(np.isinf(fd), axis=1)
    for k in np.nonzero(is_pole)[0]:
        row = fd[k]
        best = int(np.nanargmax(np.where(np.isnan(row), -1.0, row)))
        points.append(fine[k, best])
        for g in where[k]:
            near[g] = True
    return np.asarray(points).reshape(-1, 2), near


def _deformed_grid(ax: Any, f: Callable[[jax.Array], jax.Array], xlim: Any, ylim: Any, lines: int) -> None:
    t = np.linspace(0.0, 1.0, 200)
    fv = jax.jit(jax.vmap(f))
    for k, x in enumerate(np.linspace(*xlim, lines)):
        seg = np.stack([np.full_like(t, x), ylim[0] + (ylim[1] - ylim[0]) * t], axis=1)
        img = np.asarray(fv(jnp.asarray(seg, jnp.float32)))
        ax.plot(img[:, 0], img[:, 1], color="tab:blue", lw=1.4 if k in (0, lines - 1) else 0.6)
    for k, y in enumerate(np.linspace(*ylim, lines)):
        seg = np.stack([xlim[0] + (xlim[1] - xlim[0]) * t, np.full_like(t, y)], axis=1)
        img = np.asarray(fv(jnp.asarray(seg, jnp.float32)))
        ax.plot(img[:, 0], img[:, 1], color="tab:orange", lw=1.4 if k in (0, lines - 1) else 0.6)
    ax.set_aspect("equal", adjustable="datalim")


def _wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters (long words too), keeping its own line breaks."""
    return "\n".join(textwrap.fill(line, width, break_long_words=True) for line in text.split("\n"))


def plot_map(
    f: Callable[[jax.Array], jax.Array],
    *,
    xlim: tuple[float, float] = (-2.0, 2.0),
    ylim: tuple[float, float] = (-2.0, 2.0),
    resolution: int = 200,
    grid_lines: int = 17,
    title: str | None = None,
) -> Figure:
    """Three panels for a map ``R^2 -> R^2``: the grid of the window in the (x, y) plane, its image under ``f`` in
    the (u, v) plane, and ``det J`` over the window (with its colorbar) with the curves ``det J = 0`` (orientation
    flips across it; solid black), the poles of ``det J`` (where it blows up; dotted magenta) and ``|det J| = 1``
    (expansion meets contraction); regions where the map reverses orientation are hatched, and where the map is
    undefined (``log(x)`` for ``x <= 0``) grey with crosses.  One legend under the panels explains the grid
    colours and the marks; a long ``title`` is wrapped to the figure's width.

    >>> import jax.numpy as jnp
    >>> fig = plot_map(lambda p: jnp.array([p[0] ** 2 - p[1] ** 2, 2 * p[0] * p[1]]), resolution=40)
    >>> [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes[:3]]
    [('x', 'y'), ('u', 'v'), ('x', 'y')]
    """
    vm = volume_map(f, xlim, ylim, resolution)
    fig = Figure(figsize=(15, 4.8), layout="constrained")
    ax0, ax1, ax2 = fig.subplots(1, 3)
    _deformed_grid(ax0, lambda p: p, xlim, ylim, grid_lines)
    ax0.set_title("the window: a grid in the (x, y) plane", fontsize=9)
    _deformed_grid(ax1, f, xlim, ylim, grid_lines)
    ax1.set_title("its image under the map, in the (u, v) plane", fontsize=9)
    for ax, (h, v) in ((ax0, ("x", "y")), (ax1, ("u", "v")), (ax2, ("x", "y"))):
        ax.set_xlabel(h)
        ax.set_ylabel(v)
    det = np.where(np.isfinite(vm.det), vm.det, np.nan)
    pole_points, near_pole = _poles(f, vm)
    lim = float(np.nanmax(np.abs(det[~near_pole]))) if np.isfinite(det[~near_pole]).any() else 1.0
    lim = max(lim, 1.0 + 1e-6)
    norm = SymLogNorm(linthresh=0.1, vmin=-lim, vmax=lim)
    mesh = ax2.pcolormesh(vm.xs, vm.ys, det, cmap="RdBu_r", norm=norm, shading="auto")
    fig.colorbar(mesh, ax=ax2, label="det J (red: orientation kept, blue: reversed)")
    handles = [Line2D([], [], color="tab:blue", lw=1, label="grid lines x = const, and their images"),
               Line2D([], [], color="tab:orange", lw=1, label="grid lines y = const, and their images")]
    undefined = ~np.isfinite(det)
    if undefined.any():
        ax2.contourf(vm.xs, vm.ys, undefined.astype(float), levels=[0.5, 1.5], colors=["0.85"], hatches=["xx"])
        handles.append(Patch(facecolor="0.85", edgecolor="0.4", hatch="xx", label="map undefined (no det J)"))
    zeros = np.where(near_pole, np.nan, det)
    if np.nanmin(zeros) < 0 < np.nanmax(zeros):
        ax2.contour(vm.xs, vm.ys, zeros, levels=[0.0], colors="k", linewidths=1.5)
        handles.append(Line2D([], [], color="k", lw=1.5, label="det J = 0: orientation flips"))
    if len(pole_points):
        ax2.plot(pole_points[:, 0], pole_points[:, 1], ls="none", marker="o", ms=2.2, color="magenta")
        handles.append(Line2D([], [], color="magenta", ls=":", lw=2, marker="o", ms=2.2,
                              label="pole: |det J| -> infinity"))
    if (det < 0).any():
        ax2.contourf(vm.xs, vm.ys, det, levels=[-np.inf, 0.0], colors="none", hatches=["//"])
        handles.append(Patch(facecolor="none", edgecolor="k", hatch="//", label="reverses orientation"))
    absdet = np.abs(det)
    if np.nanmin(absdet) < 1 < np.nanmax(absdet):
        ax2.contour(vm.xs, vm.ys, absdet, levels=[1.0], colors="0.2", linestyles="--", linewidths=1.2)
        handles.append(Line2D([], [], color="0.2", ls="--", label="|det J| = 1"))
    if (absdet < 1).any():
        ax2.contourf(vm.xs, vm.ys, absdet, levels=[0.0, 1.0], colors="none", hatches=[".."])
        handles.append(Patch(facecolor="none", edgecolor="0.2", hatch="..", label="contracts (|det J| < 1)"))
    if (absdet > 1).any():
        handles.append(Patch(facecolor="none", edgecolor="0.2", label="unmarked: expands (|det J| > 1)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    ax2.set_aspect("equal")
    ax2.set_title(_wrap("det J over the window: " + vm.summary(), 60), fontsize=9)
    if title:
        fig.suptitle(_wrap(title, 150))
    # The equal-aspect panels change their limits (and so their tick labels) when first drawn, after the layout was
    # made for the old labels: a single draw (savefig) then cut the window's y label off.  Settle it here.
    fig.draw_without_rendering()
    return fig
