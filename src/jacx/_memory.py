"""How much memory a dense Jacobian needs, and how much there is.

A dense Jacobian of F: R^n -> R^m has m * n entries; at n = m = 10^5 in float32 that is 40 GB. jacx estimates the
bytes *before* building anything, from the shapes alone (so the check also works while tracing under ``jit``),
and either picks a chunk size that fits or raises :class:`~jacx.JacobianTooLargeError` with the options.

**How much there is** (:func:`available_memory_bytes`). On an accelerator: its allocator's limit minus what is in
use. On the host: the smallest of

* ``MemAvailable`` from ``/proc/meminfo`` (the whole machine);
* the headroom of every cgroup that holds this process, up to the root: ``memory.max - memory.current`` (cgroup
  v2) or ``memory.limit_in_bytes - memory.usage_in_bytes`` (cgroup v1), counting the reclaimable inactive page
  cache as free. A container's limit does not show in ``/proc/meminfo``, and a parent cgroup may hold the tighter
  limit, so every level is read;
* ``RLIMIT_AS`` minus the virtual size, and ``RLIMIT_DATA`` minus the data size, when those limits are set.

The environment variable ``JACX_MEMORY_LIMIT_BYTES`` replaces all of this: a number of bytes, optionally with a
unit (``3e9``, ``3GB``, ``3GiB``, ``512M``). The kernel files are read below :data:`PROC_ROOT` and
:data:`CGROUP_ROOT`, which tests point at a fake tree.

**How much is needed** (:func:`plan_chunk`). Building the Jacobian ``k`` passes at a time peaks at about::

    copies * m * n * itemsize  +  (k + 1) * per_pass

``copies`` of the Jacobian (compiled: the stacked pass outputs and the transposed/reshaped result, which exist
together for a moment, so 2; op by op without ``jit``: also the slices and reshapes, 4), ``k`` batched passes and
one unbatched evaluation (primal values, residuals), with ``per_pass`` from :func:`per_pass_bytes`. That peak must
fit in ``SAFETY_FRACTION`` of the available memory, less ``RESERVE_BYTES`` (compilation, allocator slack) when
that figure is measured rather than set.

Measured peaks (CPU, float32, jax 0.10.2, ``ru_maxrss`` after the call minus the resident size before it, one
fresh process per case after a small warm-up; F: R^n -> R^m elementwise-with-reductions, n, m in 4000..8000):

* all passes at once (no limit): 2.0x to 4.1x the Jacobian compiled, 4.1x to 9.2x op by op; the batched workspace
  dominates, and ``(passes + 1) * per_pass`` over-predicts it 2x to 8x;
* a limit forcing single passes (the tight case): compiled forward 2.0x to 2.3x (e.g. 8000 x 8000: 524 MB for a
  256 MB Jacobian), compiled reverse with more outputs than inputs up to 3.99x (n = 4000, m = 8000), op by op up
  to 3.95x forward and 6.6x reverse. :func:`jacobian_copies` covers each with a margin (predicted / measured
  1.10 to 2.1 on the cases above).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import JacobianTooLargeError, JacxUsageError

__all__ = ["available_memory_bytes", "format_bytes", "host_memory_limits", "peak_bytes", "per_pass_bytes", "plan_chunk"]

#: Where ``/proc`` is read from (``meminfo``, ``self/cgroup``, ``self/status``); tests point it at a fake tree.
PROC_ROOT = "/proc"
#: Where the cgroup file systems are mounted (v2 here or at ``unified/``, v1 memory at ``memory/``).
CGROUP_ROOT = "/sys/fs/cgroup"
#: The environment variable that replaces the measured available memory.
LIMIT_ENV = "JACX_MEMORY_LIMIT_BYTES"

# The predicted peak must fit in this fraction of the available memory.
SAFETY_FRACTION = 0.9
# Copies of the Jacobian alive at the peak, from the measured peaks (module notes), with a margin. Compiled (under
# jit): the stacked outputs of the passes and the reshaped/transposed result, 2 to 2.3 in forward mode; chunked
# reverse mode keeps the loop's buffer and its reshaped copies too (3.99 measured, 8000 x 4000). Eager (jit=False):
# the slice, reshape and transpose that follow each make one more (3.95 forward, 6.64 reverse measured).
JACOBIAN_COPIES = 2.5
EAGER_JACOBIAN_COPIES = 4.5
REVERSE_JACOBIAN_COPIES = 4.5
EAGER_REVERSE_JACOBIAN_COPIES = 7.0


def jacobian_copies(compiled: bool | None, reverse: bool = False) -> float:
    """How many Jacobian-sized buffers building one takes at its peak (see the module notes).

    >>> jacobian_copies(True), jacobian_copies(True, reverse=True), jacobian_copies(None, reverse=True)
    (2.5, 4.5, 7.0)
    """
    if compiled:
        return REVERSE_JACOBIAN_COPIES if reverse else JACOBIAN_COPIES
    return EAGER_REVERSE_JACOBIAN_COPIES if reverse else EAGER_JACOBIAN_COPIES
# Held back from a *measured* figure (not from JACX_MEMORY_LIMIT_BYTES) for compiling and running the passes.
RESERVE_BYTES = 32 * 2**20
# Kept for code that imported it; the budget is now SAFETY_FRACTION of the available memory.
WORKSPACE_FRACTION = SAFETY_FRACTION
# cgroup v1 reports "no limit" as a page-rounded LONG_MAX; anything this large is no limit.
_V1_NO_LIMIT = 1 << 60


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


# ------------------------------------------------------------------------------------------------ kernel files
def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: str) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def _keyed(path: str, key: str, scale: int = 1) -> int | None:
    """The number after ``key`` in a ``key value`` / ``key: value kB`` file such as memory.stat or meminfo."""
    text = _read(path)
    if text is None:
        return None
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[0] == key:
            try:
                return int(parts[1]) * scale
            except ValueError:
                return None
    return None


def _host_available() -> int | None:
    found = _keyed(os.path.join(PROC_ROOT, "meminfo"), "MemAvailable", 1024)
    if found is not None:
        return found
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _own_cgroups() -> tuple[str | None, str | None]:
    """This process's cgroup v2 path and cgroup v1 memory path, from ``/proc/self/cgroup``."""
    v2 = v1 = None
    text = _read(os.path.join(PROC_ROOT, "self", "cgroup")) or ""
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _levels(mount: str, path: str) -> Iterator[str]:
    """The cgroup directory of ``path`` under ``mount``, then each parent up to ``mount`` itself.

    Inside a container the kernel often shows a path from outside it (``/docker/<id>``, ``/..``) while the mount
    is already the container's own cgroup: then the mount itself is the only level that can be read.
    """
    mount = os.path.normpath(mount)
    here = os.path.normpath(os.path.join(mount, path.lstrip("/")))
    if not (here == mount or here.startswith(mount + os.sep)) or not os.path.isdir(here):
        here = mount
    while True:
        yield here
        if here == mount:
            return
        here = os.path.dirname(here)


def _cgroup_v2_headroom(path: str) -> int | None:
    mount = CGROUP_ROOT if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")) else os.path.join(
        CGROUP_ROOT, "unified"
    )
    if not os.path.isdir(mount):
        return None
    best = None
    for level in _levels(mount, path):
        text = _read(os.path.join(level, "memory.max"))
        if text is None or text.strip() in ("", "max"):
            continue
        try:
            limit = int(text.split()[0])
        except ValueError:
            continue
        used = _read_int(os.path.join(level, "memory.current")) or 0
        used -= _keyed(os.path.join(level, "memory.stat"), "inactive_file") or 0  # reclaimed before any OOM kill
        room = max(0, limit - max(used, 0))
        best = room if best is None else min(best, room)
    return best


def _cgroup_v1_headroom(path: str) -> int | None:
    mount = os.path.join(CGROUP_ROOT, "memory")
    if not os.path.isdir(mount):  # co-mounted controllers, e.g. "cpu,memory"
        try:
            names = sorted(os.listdir(CGROUP_ROOT))
        except OSError:
            return None
        mount = next((os.path.join(CGROUP_ROOT, d) for d in names if "memory" in d.split(",")), "")
        if not mount or not os.path.isdir(mount):
            return None
    best = None
    for level in _levels(mount, path):
        limit = _read_int(os.path.join(level, "memory.limit_in_bytes"))
        if limit is None or limit >= _V1_NO_LIMIT:
            continue
        used = _read_int(os.path.join(level, "memory.usage_in_bytes")) or 0
        stat = os.path.join(level, "memory.stat")
        inactive = _keyed(stat, "total_inactive_file")
        used -= inactive if inactive is not None else (_keyed(stat, "inactive_file") or 0)
        room = max(0, limit - max(used, 0))
        best = room if best is None else min(best, room)
    return best


def _rlimit_headroom() -> int | None:
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    best = None
    status = os.path.join(PROC_ROOT, "self", "status")
    for name, key in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            soft = resource.getrlimit(which)[0]
        except (ValueError, OSError):
            continue
        if soft == resource.RLIM_INFINITY or soft < 0:
            continue
        room = max(0, soft - (_keyed(status, key, 1024) or 0))
        best = room if best is None else min(best, room)
    return best


def host_memory_limits() -> dict[str, int]:
    """Each known bound on the host memory this process may still use, by source; the smallest one counts.

    Sources: ``"host"`` (``MemAvailable``), ``"cgroup v2"``, ``"cgroup v1"`` and ``"rlimit"``; a source without a
    limit is left out.

    >>> limits = host_memory_limits()
    >>> all(isinstance(v, int) and v >= 0 for v in limits.values())
    True
    """
    v2, v1 = _own_cgroups()
    found = {
        "host": _host_available(),
        "cgroup v2": _cgroup_v2_headroom(v2) if v2 is not None else None,
        "cgroup v1": _cgroup_v1_headroom(v1) if v1 is not None else None,
        "rlimit": _rlimit_headroom(),
    }
    return {k: int(v) for k, v in found.items() if v is not None}


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def _parse_limit(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]i?)?[bB]?\s*", text)
    if not match:
        raise JacxUsageError(
            f"{LIMIT_ENV}={text!r} is not a byte count; use e.g. 3000000000, 3e9, 3GB or 3GiB, or unset it."
        )
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def _available(device: jax.Device | None = None) -> tuple[int | None, str]:
    """Free bytes and where the figure comes from (for error messages)."""
    override = os.environ.get(LIMIT_ENV)
    if override:
        return _parse_limit(override), f"set by {LIMIT_ENV}"
    dev = device if device is not None else jax.devices()[0]
    stats = None
    try:
        stats = dev.memory_stats()
    except Exception:  # backends without the call
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)), f"free on {dev.platform}"
    limits = host_memory_limits()
    if not limits:
        return None, ""
    source = min(limits, key=limits.__getitem__)
    where = {
        "host": "available on this machine",
        "cgroup v2": "left under this container's cgroup v2 memory limit",
        "cgroup v1": "left under this container's cgroup v1 memory limit",
        "rlimit": "left under this process's RLIMIT_AS/RLIMIT_DATA",
    }[source]
    return limits[source], where


def available_memory_bytes(device: jax.Device | None = None) -> int | None:
    """Bytes free on ``device`` (default: JAX's default device), or ``None`` when it cannot be known.

    Accelerators report their allocator's limit minus what is in use. The CPU reports the smallest of the host's
    available memory, the headroom under this process's cgroup memory limits (v2 and v1, every level up to the
    root) and under ``RLIMIT_AS``/``RLIMIT_DATA`` (see :func:`host_memory_limits`). ``JACX_MEMORY_LIMIT_BYTES``
    (bytes, or with a unit such as ``3GiB``) replaces the measurement.

    >>> available_memory_bytes() is None or available_memory_bytes() > 0
    True
    >>> import os
    >>> os.environ["JACX_MEMORY_LIMIT_BYTES"] = "3GiB"
    >>> available_memory_bytes()
    3221225472
    >>> del os.environ["JACX_MEMORY_LIMIT_BYTES"]
    """
    return _available(device)[0]


def per_pass_bytes(g: Callable, primal: Any) -> tuple[Any, int]:
    """Output shapes of ``g`` at ``primal``, and a rough bound on the bytes one JVP/VJP pass keeps alive.

    The bound is twice the values of one evaluation (every intermediate, the input and the output: a pass holds
    primal residuals and tangents), or four times input and output when ``g`` cannot be traced abstractly.

    >>> import jax.numpy as jnp
    >>> per_pass_bytes(lambda v: 2.0 * v, jnp.ones(3))        # float32[3] in and out, twice
    (ShapeDtypeStruct(shape=(3,), dtype=float32), 48)
    """
    in_bytes = sum(math.prod(jnp.shape(a)) * jnp.result_type(a).itemsize for a in jax.tree_util.tree_leaves(primal))
    try:
        jaxpr, out_shape = jax.make_jaxpr(g, return_shape=True)(primal)
    except jax.errors.ConcretizationTypeError:
        # Python control flow on values: only a concrete evaluation can tell the output shapes
        out = g(primal)
        out_shape = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), out)
        sizes = [math.prod(jnp.shape(a)) * jnp.result_type(a).itemsize for a in jax.tree_util.tree_leaves(out)]
        return out_shape, 4 * (in_bytes + sum(sizes))
    total = in_bytes  # the seed tangent/cotangent of the pass
    for eqn in jaxpr.jaxpr.eqns:
        for v in eqn.outvars:
            aval = v.aval
            if hasattr(aval, "shape") and hasattr(aval, "dtype"):
                total += math.prod(aval.shape) * getattr(aval.dtype, "itemsize", 8)  # PRNG keys: extended dtypes
    return out_shape, 2 * total


def peak_bytes(m: int, n: int, per_pass: int, itemsize: int, chunk: int, copies: float = JACOBIAN_COPIES) -> int:
    """Predicted peak bytes of building an ``m x n`` Jacobian ``chunk`` passes at a time (see the module notes).

    >>> peak_bytes(1000, 1000, per_pass=8000, itemsize=4, chunk=10, copies=2)    # 2 x 4 MB + 11 passes of 8 kB
    8088000
    """
    return int(copies * m * n * itemsize) + (chunk + 1) * per_pass


def plan_chunk(
    m: int,
    n: int,
    passes: int,
    per_pass: int,
    itemsize: int,
    chunk_size: int | None,
    *,
    compiled: bool | None = None,
    reverse: bool = False,
    devices: int = 1,
) -> int | None:
    """The chunk size to build an ``m x n`` Jacobian with ``passes`` JVPs/VJPs of ``per_pass`` bytes each.

    With ``devices > 1`` the figures are one device's share (its ``m x n`` block and its passes) and the memory is
    one device's: ``JACX_MEMORY_LIMIT_BYTES`` is then per device, and CPU devices (which share the host's memory)
    get the host's figure divided by the number of local CPU devices.

    Returns ``chunk_size`` unchanged when everything fits (``None``: all passes at once), a smaller chunk that fits
    when the user gave none, and raises :class:`~jacx.JacobianTooLargeError` when the Jacobian itself, one pass, or
    the requested chunk cannot fit in ``SAFETY_FRACTION`` of :func:`available_memory_bytes` (less
    ``RESERVE_BYTES`` when that figure is measured), by the peak of :func:`peak_bytes`. ``compiled=True`` (the
    Jacobian is being traced under ``jit``) counts the copies of the Jacobian that compiled code makes, ``False`` or
    ``None`` (not known) those that op-by-op execution makes; ``reverse`` (VJPs) more (:func:`jacobian_copies`).

    >>> plan_chunk(10, 10, passes=10, per_pass=100, itemsize=4, chunk_size=None) is None    # tiny: fits
    True
    >>> import os
    >>> os.environ["JACX_MEMORY_LIMIT_BYTES"] = "12MB"      # 90%: 2.5 x 4 MB Jacobian + 99 passes of 8 kB
    >>> plan_chunk(1000, 1000, passes=1000, per_pass=8000, itemsize=4, chunk_size=None, compiled=True)
    99
    >>> del os.environ["JACX_MEMORY_LIMIT_BYTES"]
    """
    jac_bytes = m * n * itemsize
    copies = jacobian_copies(compiled, reverse)
    avail, where = _available()
    if avail is None:
        return chunk_size
    if devices > 1:
        if not where.startswith("set by") and jax.devices()[0].platform == "cpu":
            local = jax.local_device_count()
            avail, where = avail // local, f"{where}, shared by {local} CPU devices"
        where = f"{where} (per device, {devices} devices)"
    budget = SAFETY_FRACTION * avail - (0 if where.startswith("set by") else RESERVE_BYTES)
    if copies * jac_bytes > budget:
        what = "The dense Jacobian is" if devices <= 1 else f"Each device's share of the dense Jacobian (1/{devices}) is"
        raise JacobianTooLargeError(
            f"{what} {m} x {n} = {m * n:,} entries ({format_bytes(jac_bytes)}); building it needs "
            f"about {format_bytes(peak_bytes(m, n, per_pass, itemsize, 1, copies))} at its peak, more than the "
            f"{format_bytes(avail)} of memory {where}. Options: jacx.sparse.jacobian(f, x) when most entries are "
            "zero; jacx.jvp / jacx.vjp when you only need Jacobian-vector products; or a smaller problem."
        )
    want = passes if chunk_size is None else min(chunk_size, passes)
    if peak_bytes(m, n, per_pass, itemsize, want, copies) <= budget:
        return chunk_size
    fits = int((budget - copies * jac_bytes) // max(per_pass, 1)) - 1
    if fits < 1:
        raise JacobianTooLargeError(
            f"Even one {'JVP' if passes == n else 'VJP'} pass needs about {format_bytes(per_pass)} next to the "
            f"{format_bytes(jac_bytes)} Jacobian (and its reshaped copies), more than the {format_bytes(avail)} of "
            f"memory {where}. Use jacx.sparse.jacobian(f, x) if most entries are zero, or jacx.jvp / jacx.vjp "
            "for products."
        )
    if chunk_size is not None:
        raise JacobianTooLargeError(
            f"chunk_size={chunk_size} evaluates {chunk_size} passes of about {format_bytes(per_pass)} each at once, "
            f"more than the {format_bytes(avail)} of memory {where} allows. Use chunk_size={fits} or smaller."
        )
    return fits
