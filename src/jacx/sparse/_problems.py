"""Built-in test problems with known sparse Jacobians (public as :mod:`jacx.sparse.problems`)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "LAYOUTS",
    "PROBLEMS",
    "arrow",
    "broyden_banded",
    "broyden_tridiagonal",
    "brusselator_2d",
    "conv_layer",
    "mesh_laplacian",
    "stencil_3d",
]

LAYOUTS = ("shaped", "flat", "interleaved", "random")
"""How :func:`brusselator_2d` lays out its state: see there."""

Problem = tuple[Callable[[jax.Array], jax.Array], jax.Array]
"""A residual ``f`` and an input ``x0`` of the shape it expects."""


def brusselator_2d(
    n_grid: int, *, a: float = 3.4, b: float = 1.0, alpha: float = 0.002, layout: str = "shaped", seed: int = 0
) -> Problem:
    """The 2D Brusselator right-hand side on the periodic unit square with the 5-point Laplacian.

    The Jacobian is ``2 N^2 x 2 N^2`` with at most 6 nonzeros per row.  ``layout`` says how the state is stored,
    the same residual each time:

    * ``"shaped"``: an array ``(2, N, N)`` (u then v);
    * ``"flat"``: the same numbers as a vector ``(2 N^2,)`` (what SciPy's solvers pass);
    * ``"interleaved"``: an array ``(N, N, 2)`` (u and v side by side at each grid point);
    * ``"random"``: a vector whose unknowns (and residuals) are numbered in a random order (``seed``), as an
      unstructured mesh generator might number them.

    >>> f, x0 = brusselator_2d(8)
    >>> x0.shape, f(x0).shape
    ((2, 8, 8), (2, 8, 8))
    >>> [brusselator_2d(8, layout=s)[1].shape for s in ("flat", "interleaved", "random")]
    [(128,), (8, 8, 2), (128,)]
    """
    if layout not in LAYOUTS:
        raise ValueError(f"brusselator_2d: received layout={layout!r}; expected one of {', '.join(LAYOUTS)}.")
    h = 1.0 / n_grid
    coef = alpha / h**2
    xs = jnp.arange(n_grid) * h
    xx, yy = jnp.meshgrid(xs, xs, indexing="ij")

    def lap(w: jax.Array) -> jax.Array:
        return (
            jnp.roll(w, 1, 0) + jnp.roll(w, -1, 0) + jnp.roll(w, 1, 1) + jnp.roll(w, -1, 1) - 4.0 * w
        ) * coef

    def f(state: jax.Array) -> jax.Array:
        u, v = state[0], state[1]
        uuv = u * u * v
        du = b + uuv - (a + 1.0) * u + lap(u)
        dv = a * u - uuv + lap(v)
        return jnp.stack([du, dv])

    u0 = 22.0 * (yy * (1.0 - yy)) ** 1.5
    v0 = 27.0 * (xx * (1.0 - xx)) ** 1.5
    x0 = jnp.stack([u0, v0]).astype(jnp.float32)
    return _relayout(f, x0, layout, seed)


def _relayout(f: Callable, x0: jax.Array, layout: str, seed: int) -> Problem:
    """The same residual over a differently stored state (see :func:`brusselator_2d`)."""
    shape = x0.shape
    if layout == "flat":
        return (lambda v: f(v.reshape(shape)).ravel()), x0.ravel()
    if layout == "interleaved":
        return (lambda v: jnp.moveaxis(f(jnp.moveaxis(v, -1, 0)), 0, -1)), jnp.moveaxis(x0, 0, -1)
    if layout == "random":
        perm = np.random.default_rng(seed).permutation(x0.size)  # unknown k of the vector is perm[k] of the grid
        # JAX arrays, not NumPy ones: immutable, so jacx's caches can trust them (a captured NumPy array can change
        # in place, so jacx would re-detect and re-trace on every call)
        fwd, inv = jnp.asarray(perm), jnp.asarray(np.argsort(perm))
        return (lambda v: f(v[inv].reshape(shape)).ravel()[fwd]), x0.ravel()[fwd]
    return f, x0


def broyden_tridiagonal(n: int) -> Problem:
    """Broyden's tridiagonal function ``(3 - 2x_i) x_i - x_{i-1} - 2 x_{i+1} + 1`` (zero boundary values).

    >>> f, x0 = broyden_tridiagonal(5)
    >>> f(x0).shape
    (5,)
    """

    def f(x: jax.Array) -> jax.Array:
        xp = jnp.pad(x, 1)
        return (3.0 - 2.0 * x) * x - xp[:-2] - 2.0 * xp[2:] + 1.0

    return f, -jnp.ones(n, dtype=jnp.float32)


def broyden_banded(n: int, ml: int = 5, mu: int = 1) -> Problem:
    """Broyden's banded function ``x_i (2 + 5 x_i^2) + 1 - sum_{j in band(i), j != i} x_j (1 + x_j)``.

    >>> f, x0 = broyden_banded(10)
    >>> f(x0).shape
    (10,)
    """

    def f(x: jax.Array) -> jax.Array:
        g = x * (1.0 + x)
        gp = jnp.pad(g, (ml, mu))
        s = sum(gp[ml + k:ml + k + n] for k in range(-ml, mu + 1) if k != 0)
        return x * (2.0 + 5.0 * x * x) + 1.0 - s

    return f, -jnp.ones(n, dtype=jnp.float32)


def arrow(n: int) -> Problem:
    """An arrow-shaped Jacobian: one dense row, one dense column and the diagonal.

    >>> f, x0 = arrow(4)
    >>> f(x0).shape
    (4,)
    """

    def f(x: jax.Array) -> jax.Array:
        body = x * x + x[0] * x
        return body.at[0].set(jnp.sum(jnp.sin(x)))

    return f, jnp.linspace(0.5, 1.5, n, dtype=jnp.float32)


def conv_layer(length: int, channels: int = 4, width: int = 5, seed: int = 0) -> Problem:
    """A 1-D convolutional layer ``tanh(conv(x, W) + b)`` with 'SAME' padding, ``x`` of shape (channels, length).

    >>> f, x0 = conv_layer(16)
    >>> f(x0).shape
    (4, 16)
    """
    rng = np.random.default_rng(seed)
    w = jnp.asarray(rng.normal(size=(channels, channels, width)) / np.sqrt(channels * width), dtype=jnp.float32)
    bias = jnp.asarray(rng.normal(size=(channels, 1)), dtype=jnp.float32)

    def f(x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(x[None], w.astype(x.dtype), (1,), "SAME")[0]
        return jnp.tanh(y + bias.astype(x.dtype))

    x0 = jnp.asarray(rng.normal(size=(channels, length)), dtype=jnp.float32)
    return f, x0


def stencil_3d(n_grid: int, *, periodic: bool = False) -> Problem:
    """A nonlinear 3D diffusion residual ``lap(u) + u^2 - 1`` with the 7-point Laplacian on an ``N^3`` grid, over a
    flat state vector ``(N^3,)``: zero boundary values (Dirichlet), or ``periodic``.

    >>> f, x0 = stencil_3d(4)
    >>> x0.shape, f(x0).shape
    ((64,), (64,))
    """
    shape = (n_grid,) * 3

    def f(v: jax.Array) -> jax.Array:
        u = v.reshape(shape)
        if periodic:
            near = [jnp.roll(u, s, a) for a in range(3) for s in (1, -1)]
        else:
            w = jnp.pad(u, 1)
            mid = slice(1, -1)
            near = [w[2:, mid, mid], w[:-2, mid, mid], w[mid, 2:, mid], w[mid, :-2, mid], w[mid, mid, 2:], w[mid, mid, :-2]]
        return (sum(near) - 6.0 * u + u * u - 1.0).ravel()

    return f, jnp.linspace(0.1, 1.0, n_grid**3, dtype=jnp.float32)


def mesh_laplacian(n_points: int, seed: int = 0) -> Problem:
    """A nonlinear diffusion residual ``L u + u^3 - 1`` on an unstructured 2D mesh: the Delaunay triangulation of
    ``n_points`` random points in the unit square, ``L`` the graph Laplacian of its edges weighted by their inverse
    lengths (the pattern of piecewise-linear finite elements: one unknown per vertex, coupled to its neighbours).
    The residual gathers and scatter-adds over the edge list, as mesh codes do.

    >>> f, x0 = mesh_laplacian(50)
    >>> x0.shape, f(x0).shape
    ((50,), (50,))
    """
    from scipy.spatial import Delaunay

    if n_points < 3:
        raise ValueError(f"mesh_laplacian: received n_points={n_points}; a triangulation needs at least 3 points.")
    pts = np.random.default_rng(seed).random((n_points, 2))
    tri = Delaunay(pts).simplices
    edges = np.unique(np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]), axis=1), axis=0)
    w = jnp.asarray(1.0 / np.linalg.norm(pts[edges[:, 0]] - pts[edges[:, 1]], axis=1), dtype=jnp.float32)
    i, j = jnp.asarray(edges[:, 0]), jnp.asarray(edges[:, 1])  # immutable, so jacx's caches can trust them

    def f(u: jax.Array) -> jax.Array:
        flux = w.astype(u.dtype) * (u[i] - u[j])
        lap = jnp.zeros_like(u).at[i].add(flux).at[j].add(-flux)
        return lap + u**3 - 1.0

    return f, jnp.asarray(pts[:, 0] + 0.5, dtype=jnp.float32)


PROBLEMS: dict[str, Callable[[int], Problem]] = {
    "brusselator": brusselator_2d,
    "broyden-tridiagonal": broyden_tridiagonal,
    "broyden-banded": broyden_banded,
    "arrow": arrow,
    "conv": conv_layer,
    "stencil-3d": stencil_3d,
    "mesh": mesh_laplacian,
}
