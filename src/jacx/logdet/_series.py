"""Stochastic log-determinant of a contractive residual map ``x + g(x)`` (Behrmann et al. 2019; Chen et al. 2019).

For ``Lip(g) < 1``, ``log det(I + J_g) = sum_{k >= 1} (-1)^(k+1) tr(J_g^k) / k``; each trace is estimated with the
same Hutchinson probe ``v`` as ``v^T J_g^k v``, reusing ``J_g^(k-1) v`` (one JVP per term).  Truncating the series
is biased; the Russian-roulette variant draws a random number of terms and reweights them so that the estimate is
unbiased.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .._api import check_function
from .._errors import JacxUsageError
from ._trace import Estimate, _check_count, _mean_and_stderr, _probes
from ._util import square_flat_function

__all__ = ["residual_logdet"]


def residual_logdet(
    g: Callable[[Any], Any],
    x: Any,
    key: jax.Array,
    *,
    num_probes: int = 4,
    num_terms: int = 8,
    method: str = "series",
    exact_terms: int = 2,
    stop_probability: float = 0.5,
    probe: str = "rademacher",
) -> Estimate:
    """Estimate ``log|det(I + J_g(x))|`` for a contractive ``g`` (``Lip(g) < 1``) without forming ``J_g``.

    Args:
        g: the residual branch, so that the map is ``x + g(x)``.
        x: the point (array or pytree).
        key: JAX PRNG key.
        num_probes: Hutchinson probes; the standard error is over probes.
        num_terms: ``method="series"``: number of series terms kept (bias at most about ``n L^(K+1) / (K+1)`` for
            ``L = Lip(g)``).
        method: ``"series"`` (truncated power series) or ``"roulette"`` (unbiased Russian roulette).
        exact_terms: ``method="roulette"``: terms always computed before the random stopping starts.
        stop_probability: ``method="roulette"``: after ``exact_terms`` terms, stop after each further term with
            this probability; term ``exact_terms + j`` is weighted by ``(1 - p)^(-j)``.  The variance is finite
            when ``Lip(g) < 1 - p``.
        probe: ``"rademacher"`` or ``"gaussian"``.

    >>> import jax, jax.numpy as jnp
    >>> g = lambda v: 0.3 * jnp.tanh(v)                       # Lipschitz 0.3
    >>> x = jnp.array([0.1, -0.4, 0.8])
    >>> exact = float(jnp.sum(jnp.log1p(0.3 / jnp.cosh(x) ** 2)))
    >>> est = residual_logdet(g, x, jax.random.key(0), num_terms=20)
    >>> abs(float(est.value) - exact) < 1e-5                  # diagonal J_g: Rademacher probes are exact
    True
    """
    check_function(g, "jacx.logdet.residual_logdet")
    f, v0 = square_flat_function(g, x, "residual_logdet")
    k = _check_count("num_probes", num_probes, 1)
    n = v0.shape[0]
    _, lin = jax.linearize(f, v0)
    probes = _probes(key if method == "series" else jax.random.split(key)[0], (k, n), v0.dtype, probe)
    if method == "series":
        terms = _check_count("num_terms", num_terms, 1)

        def one(v: jax.Array) -> jax.Array:
            def body(i: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
                w, acc = carry
                w = lin(w)
                sign = jnp.where(i % 2 == 0, 1.0, -1.0).astype(v.dtype)
                return w, acc + sign * jnp.dot(v, w) / (i + 1)

            return jax.lax.fori_loop(0, terms, body, (v, jnp.zeros((), v.dtype)))[1]

        samples = jax.vmap(one)(probes)
        value, stderr = _mean_and_stderr(samples)
        return Estimate(value, stderr, jnp.asarray(k * terms), method=f"power series ({terms} terms, {k} probes)")
    if method != "roulette":
        raise JacxUsageError(f"received method={method!r}; expected 'series' or 'roulette'.")
    e = _check_count("exact_terms", exact_terms, 0)
    p = float(stop_probability)
    if not 0.0 < p < 1.0:
        raise JacxUsageError(f"received stop_probability={stop_probability!r}; expected a number in (0, 1).")
    extra = jax.random.geometric(jax.random.split(key)[1], p, shape=(k,)) - 1  # P(extra >= j) = (1 - p)^j
    log_keep = jnp.log1p(-p)

    def one_roulette(v: jax.Array, extra_terms: jax.Array) -> tuple[jax.Array, jax.Array]:
        total = e + extra_terms

        def cond(carry: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
            return carry[0] < total

        def body(carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
            i, w, acc = carry
            w = lin(w)
            sign = jnp.where(i % 2 == 0, 1.0, -1.0).astype(v.dtype)
            weight = jnp.exp(-log_keep * jnp.maximum(i + 1 - e, 0)).astype(v.dtype)
            return i + 1, w, acc + sign * weight * jnp.dot(v, w) / (i + 1)

        _, _, acc = jax.lax.while_loop(cond, body, (jnp.zeros((), extra_terms.dtype), v, jnp.zeros((), v.dtype)))
        return acc, total

    samples, counts = jax.vmap(one_roulette)(probes, extra)
    value, stderr = _mean_and_stderr(samples)
    return Estimate(value, stderr, jnp.sum(counts), method=f"russian roulette (p={p}, {k} probes)")
