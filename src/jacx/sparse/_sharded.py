"""A prepared sparse Jacobian whose colors are split across the devices of a mesh.

The compressed products are independent, one per color, so each device computes those of its own colors: device
``d`` takes the forward colors ``d * pf .. (d + 1) * pf - 1`` and the reverse colors ``d * pr .. (d + 1) * pr - 1``
(the color counts are padded to a multiple of the device count; a padding color seeds nothing, so its products
are zero).  Decompression stays on the device: each one picks its own nonzeros out of its own products.  The
BCOO that comes back holds the entries of device 0, then those of device 1, ..., each block padded to the same
length with out-of-bounds entries ``(m, n)`` (JAX's padding convention), so its data and indices are split evenly
along the mesh: nothing is gathered unless ``gather=True``.

Two layouts, as on one device: ``"compressed"`` (one-sided colorings whose products are not much larger than the
nonzeros: the products themselves are the data, no decompression at all) and ``"local"`` (each device gathers its
nonzeros from its products, in CSR order within the device).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jacx._api import mesh_size, spec_for

__all__ = ["ShardedPlan"]


class ShardedPlan:
    """Host-side index data of a sparse Jacobian spread over ``mesh`` and the program that evaluates it.

    ``fwd``/``rev`` are the column/row colorings (either may be ``None``), ``from_fwd`` says for each nonzero (CSR
    order) whether the forward products hold it.
    """

    def __init__(self, pattern: sp.csr_array, fwd: Any, rev: Any, from_fwd: np.ndarray, mesh: Mesh,
                 gather: bool, direct_max_fill: float) -> None:
        self.mesh, self.gather = mesh, gather
        d = mesh_size(mesh)
        m, n = pattern.shape
        self.shape = (m, n)
        self.kf = 0 if fwd is None else int(fwd.n_colors)
        self.kr = 0 if rev is None else int(rev.n_colors)
        self.pf = math.ceil(self.kf / d) if self.kf else 0
        self.pr = math.ceil(self.kr / d) if self.kr else 0
        rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(pattern.indptr))
        cols = pattern.indices.astype(np.int64)
        nnz = len(rows)
        # the colors of each device, padded with an id no vector has (its seed is zero)
        split, whole = NamedSharding(mesh, spec_for(mesh)), NamedSharding(mesh, P())
        data: dict[str, Any] = {}
        if self.kf:
            fc = np.arange(d * self.pf)
            data["flocal"] = jax.device_put(np.where(fc < self.kf, fc, self.kf).astype(np.int32), split)
            data["fcolors"] = jax.device_put(fwd.colors.astype(np.int32), whole)
        if self.kr:
            rc = np.arange(d * self.pr)
            data["rlocal"] = jax.device_put(np.where(rc < self.kr, rc, self.kr).astype(np.int32), split)
            data["rcolors"] = jax.device_put(rev.colors.astype(np.int32), whole)
        one_sided = bool(self.kf) != bool(self.kr)
        slots = d * self.pf * m if self.kf else d * self.pr * n
        self.layout = "compressed" if one_sided and slots <= direct_max_fill * max(nnz, 1) else "local"
        if self.layout == "compressed":
            if self.kf:
                entry = np.maximum(fwd.colors[cols], 0) * m + rows
            else:
                entry = np.maximum(rev.colors[rows], 0) * n + cols
            self.block = slots // d
            total = slots
        else:
            # each nonzero's device and its place in that device's buffer [forward products | reverse products | 0]
            fcol = np.maximum(fwd.colors[cols], 0) if self.kf else np.zeros(nnz, np.int64)
            rcol = np.maximum(rev.colors[rows], 0) if self.kr else np.zeros(nnz, np.int64)
            dev = np.where(from_fwd, fcol // max(self.pf, 1), rcol // max(self.pr, 1))
            local = np.where(from_fwd, (fcol - dev * self.pf) * m + rows,
                             self.pf * m + (rcol - dev * self.pr) * n + cols)
            order = np.argsort(dev, kind="stable")  # CSR order within each device
            counts = np.bincount(dev, minlength=d)
            self.block = max(int(counts.max()) if nnz else 0, 1)
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            within = np.empty(nnz, np.int64)
            within[order] = np.arange(nnz) - np.repeat(starts, counts)
            entry = dev * self.block + within
            zero_slot = self.pf * m + self.pr * n  # the buffer's last element, always 0
            gidx = np.full(d * self.block, zero_slot, np.int64)
            gidx[entry] = local
            idx_t = np.int32 if zero_slot < 2**31 - 1 else np.int64
            data["gidx"] = jax.device_put(gidx.astype(idx_t), split)
            total = d * self.block
        indices = np.empty((total, 2), np.int32)
        indices[:, 0], indices[:, 1] = m, n
        indices[entry, 0], indices[entry, 1] = rows, cols
        key = indices[:, 0].astype(np.int64) * (n + 1) + indices[:, 1]
        self.indices_sorted = bool((np.diff(key) > 0).all())
        self.indices = jax.device_put(indices, whole if gather else NamedSharding(mesh, P(spec_for(mesh)[0], None)))
        # where each nonzero (CSR order) sits among the entries: values() in CSR order
        data["csr_entry"] = jax.device_put(entry.astype(np.int32 if total < 2**31 - 1 else np.int64), whole)
        self.data = data

    def products(self, data: dict, x: jax.Array, *args: Any, f: Callable) -> jax.Array:
        """The BCOO data (entries of device 0, then device 1, ...), split over the mesh unless ``gather``;
        ``f(data, x, *args)`` is the function (as for the one-device programs)."""
        in_shape, dtype = x.shape, x.dtype
        kf, kr, layout = self.kf, self.kr, self.layout
        names = [k for k in ("flocal", "rlocal", "gidx") if k in data]
        split = spec_for(self.mesh)

        def body(*flat: Any) -> jax.Array:
            local = dict(zip(names, flat[: len(names)]))
            z, *rest = flat[len(names):]
            g = lambda v: f(data, v, *rest)  # noqa: E731
            parts = []
            if kf:
                seeds = (data["fcolors"][None, :] == local["flocal"][:, None]).astype(dtype)
                jvp = lambda s: jax.jvp(g, (z,), (s.reshape(in_shape),))[1]  # noqa: E731
                parts.append(jax.vmap(jvp)(seeds))
            if kr:
                y, pull = jax.vjp(g, z)
                seeds = (data["rcolors"][None, :] == local["rlocal"][:, None]).astype(dtype)
                parts.append(jax.vmap(lambda s: pull(s.reshape(y.shape))[0])(seeds))
            if layout == "compressed":
                return parts[0].reshape(-1)
            buf = jnp.concatenate([p.reshape(-1).astype(dtype) for p in parts] + [jnp.zeros(1, dtype)])
            return buf[local["gidx"]]

        specs = tuple(split for _ in names) + (P(),) * (1 + len(args))
        out = jax.shard_map(body, mesh=self.mesh, in_specs=specs, out_specs=split, check_vma=False)(
            *(data[k] for k in names), x, *args)
        if self.gather:
            return jax.lax.with_sharding_constraint(out, NamedSharding(self.mesh, P()))
        return out

    def values(self, data: dict, x: jax.Array, *args: Any, f: Callable) -> jax.Array:
        """The nonzeros in CSR order (gathered from the devices)."""
        return self.products(data, x, *args, f=f)[data["csr_entry"]]
