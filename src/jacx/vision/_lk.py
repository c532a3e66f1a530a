"""Lucas-Kanade image alignment, inverse compositional form (Baker & Matthews, 2004).

The template T is sampled on a rectangle of pixels x.  Everything that depends only on T is computed once: the
template gradient, the warp Jacobian dW/dp at p = 0 (from jacx's Jacobian of the warp), the steepest-descent
images grad(T) dW/dp and their Gauss-Newton Hessian.  Each iteration then only samples the image at W(x; p),
solves a small linear system for dp and updates W(x; p) <- W(x; p) o W(x; dp)^-1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.ndimage import map_coordinates
from jax.typing import ArrayLike

from jacx._api import BoundedCache
from jacx._errors import JacxUsageError
from jacx.vision._warps import Warp, warp_by_name

if TYPE_CHECKING:
    import matplotlib.figure

__all__ = [
    "AlignResult",
    "align",
    "sample",
    "warp_image",
    "sample_image",
    "steepest_descent_images",
    "plot_steepest_descent",
    "MissingDependencyError",
]


class MissingDependencyError(JacxUsageError, ImportError):
    """An optional package that this feature needs is not installed."""


class AlignResult(NamedTuple):
    """What :func:`align` returns: the warp parameters, the iterations used, whether the update fell below the
    tolerance, and the RMS intensity error over the template at the end.

    >>> import jax.numpy as jnp
    >>> AlignResult(p=jnp.zeros(6), iterations=3, converged=True, rms_error=0.01).converged
    True
    """

    p: jax.Array
    iterations: int
    converged: bool
    rms_error: float


def sample(image: ArrayLike, points: ArrayLike) -> jax.Array:
    """Bilinear samples of a 2-D ``image`` at (x, y) ``points`` of shape (..., 2); edge values outside.

    >>> img = jnp.arange(12.0).reshape(3, 4)
    >>> print(sample(img, jnp.array([[1.5, 1.0]])))
    [5.5]
    """
    points = jnp.asarray(points)
    coords = [points[..., 1], points[..., 0]]  # map_coordinates wants (row, column)
    return map_coordinates(jnp.asarray(image), coords, order=1, mode="nearest")


def warp_image(image: ArrayLike, warp: Warp | str, p: ArrayLike) -> np.ndarray:
    """The image I with I(W(x; p)) = image(x): resample ``image`` at W^-1(y; p) (cubic spline, SciPy).

    Used to make a test image with a known warp from a real one.

    >>> img = np.outer(np.arange(6.0), np.ones(6))
    >>> moved = warp_image(img, "translation", [0.0, 1.0])
    >>> print(moved[2, 2], img[1, 2])
    1.0 1.0
    """
    from scipy.ndimage import map_coordinates as cubic_sample

    warp = warp_by_name(warp) if isinstance(warp, str) else warp
    image = np.asarray(image, dtype=float)
    rows, cols = image.shape
    ys, xs = np.mgrid[0:rows, 0:cols].astype(float)
    M_inv = np.linalg.inv(np.asarray(warp.matrix(jnp.asarray(p, dtype=float))))
    h = np.stack([xs, ys, np.ones_like(xs)], axis=-1) @ M_inv.T
    src = h[..., :2] / h[..., 2:]
    return cubic_sample(image, [src[..., 1], src[..., 0]], order=3, mode="nearest")


def sample_image(smooth: float = 1.5) -> np.ndarray:
    """scikit-image's 512 x 512 "camera" photograph as floats in [0, 1], Gaussian-blurred by ``smooth`` pixels.

    Blurring widens the basin of attraction of Lucas-Kanade.  Needs the optional package scikit-image.

    >>> img = sample_image()
    >>> img.shape, float(img.max()) <= 1.0
    ((512, 512), True)
    """
    try:
        from skimage import data
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "The sample image comes from scikit-image, which is not installed. Run `pip install scikit-image`."
        ) from err
    from scipy.ndimage import gaussian_filter

    img = data.camera().astype(float) / 255.0
    return gaussian_filter(img, smooth) if smooth > 0 else img


def _grid(box) -> jax.Array:
    x0, y0, w, h = box
    ys, xs = jnp.mgrid[y0 : y0 + h, x0 : x0 + w]
    return jnp.stack([xs, ys], axis=-1).astype(jnp.result_type(float))


def _check_box(image, box) -> tuple[int, int, int, int]:
    if np.ndim(image) != 2:
        raise JacxUsageError(
            f"Images must be 2-D grey-level arrays; received shape {np.shape(image)}. Convert colour images to grey."
        )
    x0, y0, w, h = (int(v) for v in box)
    rows, cols = np.shape(image)
    if w < 2 or h < 2 or x0 < 1 or y0 < 1 or x0 + w > cols - 1 or y0 + h > rows - 1:
        raise JacxUsageError(
            f"The template box (x0, y0, width, height) = {(x0, y0, w, h)} must lie inside the {rows} x {cols} image "
            "with a one-pixel margin for the gradient. Pass a smaller box or move it inwards."
        )
    return x0, y0, w, h


def steepest_descent_images(
    template: ArrayLike, box: tuple[int, int, int, int], warp: Warp | str = "affine"
) -> jax.Array:
    """The steepest-descent images grad(T) dW/dp at p = 0, one per warp parameter: shape (n_params, h, w).

    ``box`` = (x0, y0, width, height) selects the template region of ``template`` (pixels, x = column).

    >>> t = jnp.tile(jnp.arange(8.0), (8, 1))  # intensity = x, so grad T = (1, 0)
    >>> sd = steepest_descent_images(t, (2, 2, 3, 3), "translation")
    >>> print(sd[:, 0, 0])
    [1. 0.]
    """
    warp = warp_by_name(warp) if isinstance(warp, str) else warp
    x0, y0, w, h = _check_box(template, box)
    template = jnp.asarray(template, dtype=jnp.result_type(float))
    gy, gx = jnp.gradient(template)  # central differences
    grad = jnp.stack([gx[y0 : y0 + h, x0 : x0 + w], gy[y0 : y0 + h, x0 : x0 + w]], axis=-1)  # (h, w, 2)
    dW = warp.jacobian_params(warp.identity().astype(template.dtype), _grid((x0, y0, w, h)))  # (h, w, 2, k)
    return jnp.moveaxis(jnp.einsum("hwi,hwik->hwk", grad, dW), -1, 0)


def align(
    image: ArrayLike,
    template: ArrayLike,
    box: tuple[int, int, int, int],
    warp: Warp | str = "affine",
    p0: ArrayLike | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> AlignResult:
    """Find p with image(W(x; p)) ~ template(x) over the template ``box`` by inverse-compositional Lucas-Kanade.

    ``box`` = (x0, y0, width, height) in template pixels; ``p0`` starts the search (identity by default); the loop
    stops when |dp| < ``tol`` or after ``max_iter`` steps.  Smooth images converge from further away.

    >>> yy, xx = jnp.mgrid[0:40, 0:40].astype(float)
    >>> blob = lambda cx, cy: jnp.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 40.0)
    >>> res = align(blob(21.5, 19.0), blob(20.0, 20.0), (8, 8, 24, 24), "translation")
    >>> print(jnp.round(res.p, 2))
    [ 1.5 -1. ]
    """
    warp = warp_by_name(warp) if isinstance(warp, str) else warp
    box = _check_box(template, box)
    if np.ndim(image) != 2:
        raise JacxUsageError(
            f"The image must be a 2-D grey-level array; received shape {np.shape(image)}. Convert it to grey."
        )
    dtype = jnp.result_type(float)
    image = jnp.asarray(image, dtype)
    template = jnp.asarray(template, dtype)
    p0 = warp.identity().astype(dtype) if p0 is None else warp._check_p(p0)
    sd = steepest_descent_images(template, box, warp).reshape(warp.n_params, -1)  # (k, N)
    hessian = sd @ sd.T
    grid = _grid(box).reshape(-1, 2)
    t_vals = template[box[1] : box[1] + box[3], box[0] : box[0] + box[2]].reshape(-1)
    run = _compiled_loop(warp, int(max_iter), float(tol))
    p, k, step = run(image, grid, t_vals, sd, hessian, p0)
    residual = sample(image, warp.apply(p, grid)) - t_vals
    return AlignResult(p=p, iterations=int(k), converged=bool(step < tol),
                       rms_error=float(jnp.sqrt(jnp.mean(residual**2))))


_LOOPS = BoundedCache("Lucas-Kanade loops", maxsize=64)  # warps hold no state: the type decides the program


def _compiled_loop(warp: Warp, max_iter: int, tol: float):
    key = (type(warp), max_iter, tol)
    loop = _LOOPS.get(key)
    if loop is None:

        def run(image, grid, t_vals, sd, hessian, p0):
            def body(state):
                p, k, _ = state
                err = sample(image, warp.apply(p, grid)) - t_vals
                dp = jnp.linalg.solve(hessian, sd @ err)
                return warp.compose_inverse(p, dp), k + 1, jnp.linalg.norm(dp)

            def cond(state):
                _, k, step = state
                return (k < max_iter) & (step >= tol)

            return jax.lax.while_loop(cond, body, (p0, jnp.asarray(0), jnp.asarray(jnp.inf, p0.dtype)))

        loop = jax.jit(run)
        _LOOPS.put(key, loop)
    return loop


def plot_steepest_descent(
    template: ArrayLike, box: tuple[int, int, int, int], warp: Warp | str = "affine", path: str | None = None
) -> matplotlib.figure.Figure:
    """Draw the template and its steepest-descent images side by side; save to ``path`` if given.

    Returns the matplotlib figure.  Each panel shows how the template's intensities change, pixel by pixel, when
    one warp parameter moves: the direction Gauss-Newton descends along.  Every panel has its own colorbar (red:
    the intensity rises as the parameter grows, blue: it falls), because the parameters have different units.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = plot_steepest_descent(jnp.outer(jnp.arange(9.0), jnp.arange(9.0)), (2, 2, 5, 5), "translation")
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['template', 'dT/dtx', 'dT/dty']
    """
    import textwrap

    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator

    warp = warp_by_name(warp) if isinstance(warp, str) else warp
    x0, y0, w, h = _check_box(template, box)
    sd = np.asarray(steepest_descent_images(template, box, warp))
    labels = {
        "translation": ["dT/dtx", "dT/dty"],
        "affine": ["p1 (x scale)", "p2 (shear y)", "p3 (shear x)", "p4 (y scale)", "p5 (tx)", "p6 (ty)"],
        "homography": ["p1", "p2", "p3", "p4", "p5 (tx)", "p6 (ty)", "p7 (persp. x)", "p8 (persp. y)"],
    }[warp.name]
    panels = 1 + warp.n_params
    fig = Figure(figsize=(1.9 * panels, 3.0), layout="constrained")
    axes = fig.subplots(1, panels)
    shown = axes[0].imshow(np.asarray(template)[y0 : y0 + h, x0 : x0 + w], cmap="gray")
    axes[0].set_title("template", fontsize=8)
    bars = [fig.colorbar(shown, ax=axes[0], location="bottom", shrink=0.9, label="intensity")]
    for ax, img, label in zip(axes[1:], sd, labels, strict=True):
        lim = float(np.abs(img).max()) or 1.0
        shown = ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(label, fontsize=8)
        bars.append(fig.colorbar(shown, ax=ax, location="bottom", shrink=0.9, label="dT/dp per pixel"))
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for bar in bars:
        bar.ax.tick_params(labelsize=6)
        bar.ax.xaxis.label.set_fontsize(7)
        bar.locator = MaxNLocator(3)
        bar.formatter = FormatStrFormatter("%.2g")
        bar.update_ticks()
    title = f"Steepest-descent images of the {warp.name} warp: grad T . dW/dp"
    fig.suptitle(textwrap.fill(title, max(30, int(12 * panels))), fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
