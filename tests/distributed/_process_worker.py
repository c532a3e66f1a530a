"""One of two processes of a jax.distributed run on this machine (CPU collectives through gloo); see
test_processes.py.  Usage: python _process_worker.py PROCESS_ID PORT.  Prints one JSON object."""

from __future__ import annotations

import json
import os
import sys


def main(pid: int, port: str) -> dict:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"  # two CPU devices per process
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=pid)
    import jax.numpy as jnp
    import numpy as np

    import jacx

    A = jnp.asarray(np.random.default_rng(0).normal(size=(12, 8)))
    params = {"A": A, "b": jnp.linspace(-1.0, 1.0, 12)}

    def f(v, p):
        return jnp.sin(p["A"] @ v + p["b"]) * v[0]

    x = jnp.linspace(0.1, 1.0, 8)
    out: dict = {"pid": pid, "devices": len(jax.devices()), "local": len(jax.local_devices())}
    cases = {"forward": dict(mode="forward"), "reverse": dict(mode="reverse"),
             "forward chunked": dict(mode="forward", chunk_size=1), "params": dict(argnums=1, mode="reverse")}
    for name, opts in cases.items():
        ref = jax.jacfwd(f, argnums=opts.get("argnums", 0))(x, params)  # this process alone
        got = jacx.jacobian(f, devices="all", **opts)(x, params)
        errs, owners = [], set()
        for r, g in zip(jax.tree_util.tree_leaves(ref), jax.tree_util.tree_leaves(got)):
            for shard in g.addressable_shards:  # the pieces this process holds
                errs.append(float(np.max(np.abs(np.asarray(shard.data) - np.asarray(r)[shard.index]))))
                owners.add(shard.device.process_index)
            assert g.shape == r.shape
        out[name] = {"max_err": max(errs), "local_shards_only": owners == {pid},
                     "split": all(not leaf.sharding.is_fully_replicated for leaf in jax.tree_util.tree_leaves(got))}
    out["sparse"] = _sparse(pid, jax, jnp, np)
    import jacx.logdet

    band = lambda v: v * jnp.cos(v) + 0.3 * jnp.roll(v, 1) ** 2  # noqa: E731
    field = lambda v: jnp.tanh(A[:8] @ v) + v**3  # noqa: E731
    out["trace"] = {
        name: abs(float(fn("all")) - float(fn(None)))
        for name, fn in {"colored": lambda d: jacx.logdet.trace(band, devices=d)(x).value,
                         "dense": lambda d: jacx.logdet.trace(field, devices=d)(x).value}.items()}
    jax.distributed.shutdown()
    return out


def _sparse(pid, jax, jnp, np) -> dict:
    """A sparse Jacobian whose colors are split over both processes: each checks the entries it holds."""
    import jacx.sparse

    def f(v):  # tridiagonal-ish: 3 forward colors, plus a dense column from v[0] for reverse
        return v[1:] ** 2 - jnp.sin(v[:-1]) * v[0]

    x = jnp.linspace(0.2, 1.3, 30)
    ref = np.asarray(jax.jacfwd(f)(x))  # this process alone
    res = {}
    for mode in ("forward", "reverse"):
        bcoo = jacx.sparse.jacobian(f, x, mode=mode, devices="all")(x)
        errs, owners, seen = [], set(), 0
        for data, idx in zip(bcoo.data.addressable_shards, bcoo.indices.addressable_shards):
            vals, ij = np.asarray(data.data), np.asarray(idx.data)
            inside = (ij[:, 0] < ref.shape[0]) & (ij[:, 1] < ref.shape[1])  # padding entries are out of bounds
            errs.append(float(np.max(np.abs(vals[inside] - ref[ij[inside, 0], ij[inside, 1]]), initial=0.0)))
            owners.add(data.device.process_index)
            seen += int(inside.sum())
        res[mode] = {"max_err": max(errs), "local_shards_only": owners == {pid},
                     "split": not bcoo.data.sharding.is_fully_replicated, "entries_here": seen}
    return res


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2])), flush=True)
