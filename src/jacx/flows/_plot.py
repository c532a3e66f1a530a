"""Pictures of a trained 2-D flow: the data next to the learned density and samples, and the loss curve."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from .._errors import JacxUsageError
from ._distributions import Flow

__all__ = ["plot_density", "plot_losses"]


def plot_density(
    flow: Flow,
    data: jax.Array,
    *,
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
    resolution: int = 200,
    num_samples: int = 2000,
    key: jax.Array | None = None,
) -> Figure:
    """Three panels: a histogram of ``data``, the learned density ``exp(flow.log_prob)`` on a grid (each with a
    colorbar), and samples drawn from the flow (when its bijector has an inverse).

    >>> import jax
    >>> from jacx.flows import realnvp, two_moons
    >>> fig = plot_density(realnvp(jax.random.key(0), 2, 2, (8,)), two_moons(jax.random.key(1), 200), resolution=30)
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['data (200 points)', 'learned density p(x) = exp(log p(x))', '2000 samples from the flow']
    >>> len(fig.axes)                     # and the colorbars of the first two
    5
    """
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 2 or flow.base.event_shape != (2,):
        raise JacxUsageError(
            f"plot_density draws 2-D flows; received data of shape {data.shape} and a flow on events of shape "
            f"{flow.base.event_shape}. Expected (N, 2) and (2,)."
        )
    if bounds is None:
        lo, hi = data.min(0), data.max(0)
        pad = 0.15 * (hi - lo)
        bounds = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    (x0, x1), (y0, y1) = bounds
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), jnp.float32)
    dens = np.exp(np.asarray(jax.jit(flow.log_prob)(pts))).reshape(resolution, resolution)
    # three equal-aspect panels side by side, as tall as the window's shape needs
    height = float(np.clip(3.6 * (y1 - y0) / (x1 - x0) + 0.9, 2.5, 9.0))
    fig = Figure(figsize=(14, height), layout="constrained")
    ax0, ax1, ax2 = fig.subplots(1, 3, sharex=True, sharey=True)
    *_, counts = ax0.hist2d(data[:, 0], data[:, 1], bins=80, range=[[x0, x1], [y0, y1]], cmap="viridis")
    fig.colorbar(counts, ax=ax0, shrink=0.9, label="data points per bin")
    ax0.set_title(f"data ({len(data)} points)", fontsize=9)
    mesh = ax1.pcolormesh(xs, ys, dens, cmap="viridis", shading="auto")
    fig.colorbar(mesh, ax=ax1, shrink=0.9, label="learned density p(x)")
    ax1.set_title("learned density p(x) = exp(log p(x))", fontsize=9)
    try:
        key = key if key is not None else jax.random.key(0)
        samples = np.asarray(jax.jit(flow.sample, static_argnums=1)(key, num_samples))
        ax2.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.5, color="tab:purple")
        ax2.set_title(f"{num_samples} samples from the flow", fontsize=9)
    except JacxUsageError:
        ax2.set_title("no samples: the flow has no inverse", fontsize=9)
    for ax in (ax0, ax1, ax2):
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
    ax0.set_ylabel("x2")  # the panels share their axes
    fig.draw_without_rendering()  # settle the layout for the tick labels of the equal-aspect panels
    return fig


def plot_losses(losses: np.ndarray) -> Figure:
    """The training curve (mean negative log-likelihood per step).

    >>> import numpy as np
    >>> len(plot_losses(np.linspace(3.0, 1.0, 10)).axes)
    1
    """
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(np.asarray(losses), lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("negative log-likelihood")
    ax.set_title("training loss (mean over the batch)", fontsize=9)
    ax.grid(alpha=0.3)
    return fig
