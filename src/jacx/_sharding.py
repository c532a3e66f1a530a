"""Jacobian passes spread over several devices (and hosts) with JAX's own distribution: meshes, ``shard_map``.

Every Jacobian is a batch of independent JVPs or VJPs, one per seed.  With ``devices=...`` jacx splits the seeds
across a device mesh: the seed indices are made outside the mapped body, padded to a multiple of the device
count (and of the chunk, so each device runs the same program), sharded along the mesh, and each device computes
its own products with the primal input replicated.  The products come back sharded along their seed axis;
reshaping them into the Jacobian's layout is left to XLA's partitioner, which keeps the seed axis sharded where
the shapes allow (a padded axis cannot be: JAX shards only axes that divide evenly; then the result is
replicated and jacx says so once).

``devices``: ``None`` (one device, or the mesh set with ``jax.set_mesh`` if its axes are automatic), ``"all"`` (every device of every process, after ``jax.distributed.initialize``
on several hosts), a sequence of devices, or a ``jax.sharding.Mesh`` (all its axes together split the seeds; a
mesh with explicit axes is used with automatic ones, so XLA's partitioner lays out the result).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AbstractMesh, AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._errors import JacxUsageError, JacxWarning

__all__ = ["Devices", "context_mesh", "mesh_size", "padded_count", "place", "resolve_mesh", "sharded_apply",
           "spec_for"]

Devices = Union[None, str, Sequence[jax.Device], Mesh]


def context_mesh(where: str = "jacx") -> Mesh | AbstractMesh | None:
    """The mesh of ``jax.set_mesh`` when one with automatic axes and several devices is set, else ``None``.

    Outside ``jax.jit`` the concrete mesh; while tracing, its abstract mesh (all that JAX exposes there, and all
    that ``shard_map`` and sharding constraints need).  A context mesh with explicit axes is not used: jacx then
    computes on one device and says so once.

    >>> context_mesh() is None   # no mesh set
    True
    """
    abstract = jax.sharding.get_abstract_mesh()
    if abstract.empty or abstract.size == 1:
        return None
    if any(t != AxisType.Auto for t in abstract.axis_types):
        from ._autojit import warn_once

        warn_once(("explicit mesh", where), (
            f"{where}: the mesh set with jax.set_mesh has explicit axes ({abstract.axis_types}), which jacx does not "
            "spread Jacobians over, so it computes on one device. Fix: create the mesh with "
            "axis_types=(jax.sharding.AxisType.Auto,) * ndim, or pass devices=... explicitly."), JacxWarning)
        return None
    try:
        return jax.sharding.get_mesh()
    except ValueError:  # inside jax.jit only the abstract mesh is known
        return abstract


def resolve_mesh(devices: Devices, where: str) -> Mesh | AbstractMesh | None:
    """The mesh to spread seeds over, with automatic (partitioner-chosen) axes, or ``None`` for one device.

    >>> resolve_mesh(None, "jacx.jacobian") is None   # today's single-device behaviour (no mesh set)
    True
    >>> resolve_mesh(jax.devices()[:1], "jacx.jacobian") is None   # one device: nothing to spread
    True
    """
    if devices is None:
        return context_mesh(where)
    if isinstance(devices, AbstractMesh):
        if devices.size == 1:
            return None
        if any(t != AxisType.Auto for t in devices.axis_types):
            raise JacxUsageError(f"{where}: received an abstract mesh with explicit axes; expected automatic axes. "
                                 "Fix: pass a jax.sharding.Mesh, or devices='all'.")
        return devices
    if isinstance(devices, Mesh):
        mesh = devices
    elif isinstance(devices, str):
        if devices != "all":
            raise JacxUsageError(
                f"{where}: received devices={devices!r}; expected None, 'all', a sequence of devices or a "
                "jax.sharding.Mesh. Fix: pass devices='all' for every device, or e.g. devices=jax.devices()[:4]."
            )
        mesh = Mesh(np.asarray(jax.devices()), ("jacx",))
    else:
        try:
            devs = list(devices)
        except TypeError:
            raise JacxUsageError(
                f"{where}: received devices of type {type(devices).__name__}; expected None, 'all', a sequence of "
                "jax devices or a jax.sharding.Mesh. Fix: e.g. devices=jax.devices()."
            ) from None
        bad = [d for d in devs if not isinstance(d, jax.Device)]
        if bad or not devs:
            what = f"a {type(bad[0]).__name__}" if bad else "an empty sequence"
            raise JacxUsageError(
                f"{where}: devices holds {what}; expected jax devices (from jax.devices()). "
                "Fix: e.g. devices=jax.devices()[:4], or devices='all'."
            )
        if len({d.id for d in devs}) != len(devs):
            raise JacxUsageError(f"{where}: devices lists a device twice; expected distinct devices. Fix: remove "
                                 "the repeats.")
        mesh = Mesh(np.asarray(devs), ("jacx",))
    if mesh.size == 1:
        return None
    if all(t == AxisType.Auto for t in mesh.axis_types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))


def mesh_size(mesh: Mesh | None) -> int:
    return 1 if mesh is None else int(mesh.size)


def spec_for(mesh: Mesh) -> P:
    """The partition of a seed axis over every axis of ``mesh``."""
    names = tuple(mesh.axis_names)
    return P(names if len(names) > 1 else names[0])


def padded_count(count: int, mesh: Mesh, chunk: int | None) -> tuple[int, int]:
    """``(per_device, total)``: seeds per device (a multiple of ``chunk`` when chunked) and their total."""
    d = mesh_size(mesh)
    per = math.ceil(count / d)
    if chunk is not None and chunk < per:
        per = math.ceil(per / chunk) * chunk
    return per, per * d


def sharded_apply(make: Callable[[], Callable[[jax.Array], Any]], seeds: jax.Array, mesh: Mesh | AbstractMesh,
                  axis: int = 0, chunk: int | None = None) -> Any:
    """``vmap(make())`` over ``axis`` of ``seeds`` (and of the result), with the seeds split over ``mesh``.

    The seeds are padded with zeros to a multiple of the device count (and of ``chunk`` per device, so every
    device runs the same program) and the padding's results dropped; ``make`` runs once per device, inside the
    mapped body (e.g. a linearization or a VJP whose linear map all of that device's seeds go through); with
    ``chunk``, each device maps over its seeds ``chunk`` at a time.

    >>> import jax.numpy as jnp
    >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ("jacx",))
    >>> sharded_apply(lambda: lambda v: 2.0 * v, jnp.eye(3), mesh, axis=1)
    Array([[2., 0., 0.],
           [0., 2., 0.],
           [0., 0., 2.]], dtype=float32)
    """
    k = seeds.shape[axis]
    per, total = padded_count(k, mesh, chunk)
    if total > k:
        seeds = jnp.pad(seeds, [(0, total - k) if a == axis else (0, 0) for a in range(seeds.ndim)])
    parts: list = [None] * seeds.ndim
    parts[axis] = spec_for(mesh)[0]
    spec = P(*parts)
    seeds = jax.lax.with_sharding_constraint(seeds, NamedSharding(mesh, spec))

    def body(local: jax.Array) -> Any:
        fn = make()
        if chunk is None or chunk >= per:
            return jax.vmap(fn, in_axes=axis, out_axes=axis)(local)
        out = jax.lax.map(fn, jnp.moveaxis(local, axis, 0), batch_size=int(chunk))
        return jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 0, axis), out)

    out = jax.shard_map(body, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)(seeds)
    if total == k:
        return out
    return jax.tree_util.tree_map(lambda a: jax.lax.slice_in_dim(a, 0, k, axis=axis), out)


def place(result: Any, mesh: Mesh, axes_of: Callable[[jax.Array], Sequence[int]]) -> tuple[Any, bool]:
    """Ask the partitioner to keep each leaf of ``result`` split along the first of its ``axes_of(leaf)`` whose
    length the device count divides; ``(result, all_sharded)``."""
    d = mesh_size(mesh)
    spec = spec_for(mesh)
    all_sharded = True

    def one(a: jax.Array) -> jax.Array:
        nonlocal all_sharded
        for ax in axes_of(a):
            if a.shape[ax] % d == 0:
                parts = [None] * a.ndim
                parts[ax] = spec[0]
                return jax.lax.with_sharding_constraint(a, NamedSharding(mesh, P(*parts)))
        all_sharded = False
        return a

    return jax.tree_util.tree_map(one, result), all_sharded
