"""How much memory a dense Jacobian needs, and how much there is.

A dense Jacobian of F: R^n -> R^m has m * n entries; at n = m = 10^5 in float32 that is 40 GB. jacx estimates the
bytes *before* building anything, from the shapes alone (so the check also works while tracing under ``jit``),
and either picks a chunk size that fits or raises :class:`~jacx.JacobianTooLargeError` with the options.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import JacobianTooLargeError

__all__ = ["available_memory_bytes", "format_bytes", "per_pass_bytes", "plan_chunk"]

# Use at most this fraction of the free memory for the batched passes that build a Jacobian.
WORKSPACE_FRACTION = 0.5


def format_bytes(n: float) -> str:
    """Render a byte count for people: ``format_bytes(4e10) == '40.0 GB'``.

    >>> format_bytes(4e10)
    '40.0 GB'
    >>> format_bytes(512)
    '512 B'
    """
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _host_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_memory_bytes(device: jax.Device | None = None) -> int | None:
    """Bytes free on ``device`` (default: JAX's default device), or ``None`` when it cannot be known.

    Accelerators report their allocator's limit minus what is in use; the CPU reports the host's available memory.

    >>> available_memory_bytes() is None or available_memory_bytes() > 0
    True
    """
    override = os.environ.get("JACX_MEMORY_LIMIT_BYTES")
    if override:
        return int(float(override))
    dev = device if device is not None else jax.devices()[0]
    stats = None
    try:
        stats = dev.memory_stats()
    except Exception:  # backends without the call
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    return _host_available()


def per_pass_bytes(g: Callable, primal: Any) -> tuple[Any, int]:
    """Output shapes of ``g`` at ``primal``, and a rough bound on the bytes one JVP/VJP pass keeps alive.

    >>> import jax.numpy as jnp
    >>> per_pass_bytes(lambda v: 2.0 * v, jnp.ones(3))        # one float32[3] value, twice
    (ShapeDtypeStruct(shape=(3,), dtype=float32), 24)
    """
    try:
        jaxpr, out_shape = jax.make_jaxpr(g, return_shape=True)(primal)
    except jax.errors.ConcretizationTypeError:
        # Python control flow on values: only a concrete evaluation can tell the output shapes
        out = g(primal)
        out_shape = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), out)
        sizes = [math.prod(jnp.shape(a)) * jnp.result_type(a).itemsize for a in jax.tree_util.tree_leaves((primal, out))]
        return out_shape, 4 * sum(sizes)
    total = 0
    for eqn in jaxpr.jaxpr.eqns:
        for v in eqn.outvars:
            aval = v.aval
            if hasattr(aval, "shape") and hasattr(aval, "dtype"):
                total += math.prod(aval.shape) * np.dtype(aval.dtype).itemsize
    # a pass holds primal residuals and tangents: about twice the values of one evaluation
    return out_shape, 2 * total


def plan_chunk(m: int, n: int, passes: int, per_pass: int, itemsize: int, chunk_size: int | None) -> int | None:
    """The chunk size to build an ``m x n`` Jacobian with ``passes`` JVPs/VJPs of ``per_pass`` bytes each.

    Returns ``chunk_size`` unchanged when everything fits (``None``: all passes at once), a smaller chunk that fits
    when the user gave none, and raises :class:`~jacx.JacobianTooLargeError` when the Jacobian itself, one pass, or
    the requested chunk cannot fit.

    >>> plan_chunk(10, 10, passes=10, per_pass=100, itemsize=4, chunk_size=None) is None    # tiny: fits
    True
    """
    jac_bytes = m * n * itemsize
    avail = available_memory_bytes()
    if avail is None:
        return chunk_size
    if jac_bytes > avail:
        raise JacobianTooLargeError(
            f"The dense Jacobian is {m} x {n} = {m * n:,} entries ({format_bytes(jac_bytes)}), more than the "
            f"{format_bytes(avail)} of memory available. Options: jacx.sparse.jacobian(f, x) when most entries are "
            "zero; jacx.jvp / jacx.vjp when you only need Jacobian-vector products; or a smaller problem."
        )
    budget = WORKSPACE_FRACTION * avail - jac_bytes
    need = passes * per_pass if chunk_size is None else min(chunk_size, passes) * per_pass
    if need <= budget:
        return chunk_size
    fits = int(budget // max(per_pass, 1))
    if fits < 1:
        raise JacobianTooLargeError(
            f"Even one {'JVP' if passes == n else 'VJP'} pass needs about {format_bytes(per_pass)} next to the "
            f"{format_bytes(jac_bytes)} Jacobian, more than the {format_bytes(avail)} of memory available. "
            "Use jacx.sparse.jacobian(f, x) if most entries are zero, or jacx.jvp / jacx.vjp for products."
        )
    if chunk_size is not None:
        raise JacobianTooLargeError(
            f"chunk_size={chunk_size} evaluates {chunk_size} passes of about {format_bytes(per_pass)} each at once, "
            f"more than the {format_bytes(avail)} of memory available allows. Use chunk_size={fits} or smaller."
        )
    return fits
