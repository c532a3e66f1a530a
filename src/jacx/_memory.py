"""How much memory a dense Jacobian needs, and how much there is.

A dense Jacobian of F: R^n -> R^m has m * n entries; at n = m = 10^5 in float32 that is 40 GB. jacx estimates the
bytes *before* building anything, from the shapes alone (so the check also works while tracing under ``jit``),
and either picks a chunk size that fits or raises :class:`~jacx.JacobianTooLargeError` with the options.
"""

from __future__ import annotations

import os

import jax

__all__ = ["available_memory_bytes", "format_bytes"]

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
