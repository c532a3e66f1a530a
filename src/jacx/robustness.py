"""How far an input perturbation can move a classifier's output: its input-output Jacobian and norms of it.

For a model f: R^n -> R^m (logits) at x, a small perturbation dx moves the output by about J dx, so

* the spectral norm ||J||_2 (largest singular value) is the worst-case gain, reached along the top right
  singular vector; it is a local Lipschitz constant of f at x in the Euclidean norm;
* the Frobenius norm ||J||_F bounds it from above and is cheap to estimate with random projections
  (E ||v^T J||^2 = ||J||_F^2 for a standard normal v), which is why it serves as a training regulariser
  (Hoffman, Roberts & Yaida, 2019, "Robust learning with Jacobian regularization").

Every estimate here runs on JVPs and VJPs; only :func:`io_jacobian` and :func:`frobenius_norm` form J.
``f`` takes one example (a 1-D array) and returns a 1-D array; batches are handled with ``jax.vmap``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jacx._api import check_function
from jacx._dense import jacobian
from jacx._errors import JacxUsageError

__all__ = [
    "io_jacobian",
    "frobenius_norm",
    "frobenius_estimate",
    "SpectralNorm",
    "spectral_norm",
    "local_lipschitz",
    "jacobian_regularizer",
    "top_singular_perturbation",
]


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise JacxUsageError(f"{name} must be an integer >= {minimum}; received {value!r}.")
    return int(value)


def _check_x(x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise JacxUsageError(
            f"Expected one example as a 1-D array; received shape {x.shape}. Use jax.vmap over a batch, or "
            "x.ravel() for an image."
        )
    return x


def io_jacobian(f: Callable, x: ArrayLike) -> jax.Array:
    """The m x n input-output Jacobian of the model ``f`` at one example ``x`` (via ``jacx.jacobian``).

    >>> W = jnp.array([[1.0, 2.0], [0.0, 3.0], [1.0, 1.0]])
    >>> print(io_jacobian(lambda x: W @ x, jnp.ones(2)))
    [[1. 2.]
     [0. 3.]
     [1. 1.]]
    """
    return jacobian(f)(_check_x(x))


def frobenius_norm(f: Callable, x: ArrayLike) -> jax.Array:
    """The exact Frobenius norm ||J||_F of the model's Jacobian at ``x`` (forms J).

    >>> print(frobenius_norm(lambda x: 3.0 * x, jnp.ones(4)))
    6.0
    """
    return jnp.linalg.norm(io_jacobian(f, x))


def frobenius_estimate(f: Callable, x: ArrayLike, key: jax.Array, n_proj: int = 1) -> jax.Array:
    """An unbiased estimate of ||J||_F^2 from ``n_proj`` VJPs with standard normal cotangents v: mean ||v^T J||^2.

    Returns the estimate of the *squared* norm (the unbiased quantity), as used for regularisation.

    >>> est = frobenius_estimate(lambda x: 3.0 * x, jnp.ones(4), jax.random.PRNGKey(0), n_proj=4000)
    >>> bool(abs(float(est) - 36.0) < 2.5)
    True
    """
    check_function(f, "jacx.robustness.frobenius_estimate")
    x = _check_x(x)
    n_proj = _check_count("n_proj", n_proj, 1)
    y, pull = jax.vjp(f, x)
    v = jax.random.normal(key, (n_proj,) + y.shape, y.dtype)
    rows = jax.vmap(lambda c: pull(c)[0])(v)
    return jnp.mean(jnp.sum(rows**2, axis=tuple(range(1, rows.ndim))))


class SpectralNorm(NamedTuple):
    """The largest singular value ``sigma`` of J with its unit singular vectors: J v = sigma u.

    >>> res = spectral_norm(lambda x: jnp.array([3.0 * x[1], x[0]]), jnp.ones(2), jax.random.PRNGKey(0))
    >>> round(float(res.sigma), 4), [round(abs(float(c)), 4) for c in res.v]   # v = +-e_2, the stretched axis
    (3.0, [0.0, 1.0])
    """

    sigma: jax.Array
    u: jax.Array
    v: jax.Array


def spectral_norm(f: Callable, x: ArrayLike, key: jax.Array, n_iter: int = 100) -> SpectralNorm:
    """The spectral norm of J at ``x`` by power iteration on J^T J, one JVP and one VJP per step (J never formed).

    >>> W = jnp.diag(jnp.array([3.0, 1.0, 0.5]))
    >>> print(round(float(spectral_norm(lambda x: W @ x, jnp.ones(3), jax.random.PRNGKey(0)).sigma), 4))
    3.0
    """
    check_function(f, "jacx.robustness.spectral_norm")
    return _spectral_norm(f, _check_x(x), key, _check_count("n_iter", n_iter, 1))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _spectral_norm(f: Callable, x: jax.Array, key: jax.Array, n_iter: int) -> SpectralNorm:
    _, pull = jax.vjp(f, x)

    def push(t):
        return jax.jvp(f, (x,), (t,))[1]

    def step(v, _):
        w = pull(push(v))[0]
        norm = jnp.linalg.norm(w)
        return jnp.where(norm > 0, w / jnp.where(norm > 0, norm, 1.0), v), None  # J = 0: keep v, sigma is 0

    v0 = jax.random.normal(key, x.shape, x.dtype)
    v, _ = jax.lax.scan(step, v0 / jnp.linalg.norm(v0), None, length=n_iter)
    Jv = push(v)
    sigma = jnp.linalg.norm(Jv)
    return SpectralNorm(sigma=sigma, u=Jv / jnp.where(sigma > 0, sigma, 1.0), v=v)


def local_lipschitz(
    f: Callable, x: ArrayLike, radius: float, key: jax.Array, n_samples: int = 32, n_iter: int = 50
) -> jax.Array:
    """A local Lipschitz estimate of ``f`` on the Euclidean ball of ``radius`` around ``x``: the largest spectral
    norm of J over ``x`` and ``n_samples`` random points of the ball.

    It is a lower bound of the true constant (a sampled maximum), tight as the samples grow.

    >>> print(round(float(local_lipschitz(jnp.sin, jnp.zeros(3), 0.1, jax.random.PRNGKey(1))), 3))
    1.0
    """
    check_function(f, "jacx.robustness.local_lipschitz")
    if not radius > 0:
        raise JacxUsageError(f"radius must be a positive number; received {radius!r}.")
    n_samples, n_iter = _check_count("n_samples", n_samples, 1), _check_count("n_iter", n_iter, 1)
    return _local_lipschitz(f, _check_x(x), float(radius), key, n_samples, n_iter)


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _local_lipschitz(f: Callable, x: jax.Array, radius, key: jax.Array, n_samples: int, n_iter: int) -> jax.Array:
    k_dir, k_rad, k_pow = jax.random.split(key, 3)
    d = jax.random.normal(k_dir, (n_samples,) + x.shape, x.dtype)
    d = d / jnp.linalg.norm(d, axis=1, keepdims=True)
    r = radius * jax.random.uniform(k_rad, (n_samples, 1), x.dtype) ** (1.0 / x.size)
    points = jnp.concatenate([x[None], x + r * d])
    keys = jax.random.split(k_pow, n_samples + 1)
    sigmas = jax.vmap(lambda p, k: _spectral_norm(f, p, k, n_iter).sigma)(points, keys)
    return jnp.max(sigmas)


def jacobian_regularizer(f: Callable, xs: ArrayLike, key: jax.Array, n_proj: int = 1) -> jax.Array:
    """Mean over the batch ``xs`` (shape (B, n)) of the random-projection estimate of ||J(x)||_F^2.

    Add ``lam * jacobian_regularizer(model, xs, key)`` to a training loss to flatten the model around the data;
    it is differentiable in the model's parameters (double backprop through a VJP).

    >>> print(jacobian_regularizer(lambda x: 2.0 * x, jnp.ones((5, 3)), jax.random.PRNGKey(0), n_proj=1) > 0)
    True
    """
    check_function(f, "jacx.robustness.jacobian_regularizer")
    xs = jnp.asarray(xs)
    if xs.ndim != 2:
        raise JacxUsageError(
            f"jacobian_regularizer expects a batch of shape (B, n); received shape {xs.shape}. Stack the examples."
        )
    keys = jax.random.split(key, xs.shape[0])
    return jnp.mean(jax.vmap(lambda x, k: frobenius_estimate(f, x, k, n_proj))(xs, keys))


def top_singular_perturbation(
    f: Callable, x: ArrayLike, eps: float, key: jax.Array, label: int | None = None, n_iter: int = 100
) -> jax.Array:
    """The perturbation of Euclidean length ``eps`` along the top right singular vector of J at ``x``.

    A singular vector has no sign; with ``label`` the sign that lowers that class's margin (its logit minus the
    largest other logit) is chosen, otherwise the one that moves the output's largest entry down.

    >>> dx = top_singular_perturbation(lambda x: jnp.array([2.0 * x[0], x[1]]), jnp.ones(2), 0.5,
    ...                                jax.random.PRNGKey(0), label=0)
    >>> print(jnp.round(dx, 3))
    [-0.5  0. ]
    """
    check_function(f, "jacx.robustness.top_singular_perturbation")
    x = _check_x(x)
    if not eps > 0:
        raise JacxUsageError(f"eps must be positive; received {eps}.")
    v = spectral_norm(f, x, key, n_iter).v
    y = f(x)
    cls = jnp.argmax(y) if label is None else label

    def margin(z):
        out = f(z)
        others = jnp.where(jnp.arange(out.shape[0]) == cls, -jnp.inf, out)
        return out[cls] - jnp.max(others)

    plus, minus = x + eps * v, x - eps * v
    return jnp.where(margin(plus) <= margin(minus), eps * v, -eps * v)
