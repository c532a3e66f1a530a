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
    jax.distributed.shutdown()
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2])), flush=True)
