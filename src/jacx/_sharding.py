"""Jacobian passes spread over several devices (and hosts) with JAX's own distribution: meshes, ``shard_map``.

Every Jacobian is a batch of independent JVPs or VJPs, one per seed.  With ``devices=...`` jacx splits the seeds
across a device mesh: the seed indices are made outside the mapped body, padded to a multiple of the device
count (and of the chunk, so each device runs the same program), sharded along the mesh, and each device computes
its own products with the primal input replicated.  The products come back sharded along their seed axis;
reshaping them into the Jacobian's layout is left to XLA's partitioner, which keeps the seed axis sharded where
the shapes allow (a padded axis cannot be: JAX shards only axes that divide evenly; then the result is
replicated and jacx says so once).

``devices``: ``None`` (one device), ``"all"`` (every device of every process, after ``jax.distributed.initialize``
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
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._errors import JacxUsageError

__all__ = ["Devices", "mesh_size", "padded_count", "place", "resolve_mesh", "sharded_map", "shard_leading", "spec_for"]

Devices = Union[None, str, Sequence[jax.Device], Mesh]


def resolve_mesh(devices: Devices, where: str) -> Mesh | None:
    """The mesh to spread seeds over, with automatic (partitioner-chosen) axes, or ``None`` for one device.

    >>> resolve_mesh(None, "jacx.jacobian") is None   # today's single-device behaviour
    True
    >>> resolve_mesh(jax.devices()[:1], "jacx.jacobian") is None   # one device: nothing to spread
    True
    """
    if devices is None:
        return None
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


def shard_leading(x: jax.Array, mesh: Mesh) -> jax.Array:
    """``x`` with its leading axis split over the mesh (inside ``jit``: a constraint for the partitioner)."""
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec_for(mesh)))


def sharded_map(fn: Callable[[jax.Array, Any], Any], count: int, chunk: int | None, mesh: Mesh,
                replicated: Any, prepare: Callable[[Any], Any] = lambda rep: rep) -> Any:
    """``fn`` over the seeds ``0 .. count - 1`` spread over ``mesh``: ``fn(i, prepare(replicated))`` for each seed,
    stacked along a leading axis of length ``count`` (the padding seeds, ``i >= count``, are computed and dropped).

    ``replicated`` (the primal input) is passed to every device whole; ``prepare`` runs once per device (e.g. a
    linearization or a VJP whose pullback all of that device's seeds share).
    """
    per, total = padded_count(count, mesh, chunk)
    spec = spec_for(mesh)
    idx = shard_leading(jnp.arange(total), mesh)

    def body(local: jax.Array, rep: Any) -> Any:
        ctx = prepare(rep)
        if chunk is None or chunk >= per:
            return jax.vmap(lambda i: fn(i, ctx))(local)
        return jax.lax.map(lambda i: fn(i, ctx), local, batch_size=int(chunk))

    out = jax.shard_map(body, mesh=mesh, in_specs=(spec, P()), out_specs=spec, check_vma=False)(idx, replicated)
    if total == count:
        return out
    return jax.tree_util.tree_map(lambda a: a[:count], out)


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
