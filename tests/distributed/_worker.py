"""Run in a subprocess with several simulated CPU devices (see test_devices.py); prints one JSON object.

Usage: python _worker.py CHECK  (CHECK: dense, memory)
"""

from __future__ import annotations

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import jacx


def _max_diff(a, b) -> float:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) if np.size(x) else 0.0 for x, y in zip(la, lb))


def _spread(tree) -> list:
    """For each leaf: (devices holding it, whether the leaf is split rather than copied)."""
    return [[len(a.sharding.device_set), not a.sharding.is_fully_replicated] for a in jax.tree_util.tree_leaves(tree)]


def dense() -> dict:
    rng = np.random.default_rng(0)
    A = jnp.asarray(rng.normal(size=(24, 16)))
    B = jnp.asarray(rng.normal(size=(16, 16)))

    def f(x):  # R^16 -> R^24
        return jnp.tanh(A @ x) * jnp.sin(x[:1]) + jnp.cumsum(A @ (x**2))

    def g(p):  # pytree in, pytree out
        return {"a": jnp.sin(p["w"] @ p["b"]), "b": (p["w"] ** 2).sum(0) * p["b"][0]}

    def h(x, y):  # two arguments, aux
        return jnp.concatenate([B @ x * y[0], jnp.sin(y)]), {"norm": jnp.sum(x**2)}

    x = jnp.asarray(rng.normal(size=16))
    p = {"w": jnp.asarray(rng.normal(size=(8, 4))), "b": jnp.asarray(rng.normal(size=4))}
    y = jnp.asarray(rng.normal(size=8))
    cases = {
        "forward": (f, dict(mode="forward"), (x,)),
        "reverse": (f, dict(mode="reverse"), (x,)),
        "forward chunked": (f, dict(mode="forward", chunk_size=3), (x,)),
        "reverse chunked": (f, dict(mode="reverse", chunk_size=5), (x,)),
        "pytree forward": (g, dict(mode="forward"), (p,)),
        "pytree reverse": (g, dict(mode="reverse"), (p,)),
        "argnums aux": (h, dict(argnums=(0, 1), has_aux=True), (x, y)),
    }
    out: dict = {"devices": len(jax.devices()), "cases": {}}
    for name, (fun, opts, args) in cases.items():
        ref = jacx.jacobian(fun, **opts)(*args)
        for d in (1, 2, 4, 8):
            got = jacx.jacobian(fun, devices=jax.devices()[:d], **opts)(*args)
            out["cases"][f"{name} / {d}"] = {"diff": _max_diff(got, ref), "spread": _spread(got)}
    # one compilation per shape: count XLA compilations over repeated calls with new values
    compiles: list = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiles.append(event) if event == "/jax/core/compile/backend_compile_duration"
        else None)
    f2 = lambda v: jnp.sin(A @ v) * v[0]  # noqa: E731 - not compiled before
    jac8 = jacx.jacobian(f2, devices="all", mode="forward")
    inputs = jax.block_until_ready([x + k for k in range(6)])
    before = len(compiles)
    jax.block_until_ready(jac8(inputs[0]))
    out["compiles_first_call"] = len(compiles) - before
    before = len(compiles)
    for z in inputs[1:]:
        jax.block_until_ready(jac8(z))
    out["compiles_later_calls"] = len(compiles) - before
    return out


def memory() -> dict:
    """A Jacobian over one device's budget (JACX_MEMORY_LIMIT_BYTES, per device) computed across 8 devices."""
    n = 1024
    rng = np.random.default_rng(1)
    W = jnp.asarray(rng.normal(size=(n, n)) / np.sqrt(n))
    f = lambda v: jnp.tanh(W @ v)  # noqa: E731
    x = jnp.asarray(rng.normal(size=n))
    out: dict = {}
    try:
        jacx.jacobian(f, mode="forward", jit=True)(x)
        out["one device"] = "computed"
    except jacx.JacobianTooLargeError as err:
        out["one device"] = "too large: " + str(err)[:200]
    J = jacx.jacobian(f, mode="forward", devices="all")(x)
    ref = jax.jacfwd(f)(x)
    out["eight devices diff"] = _max_diff(J, ref)
    out["eight devices spread"] = _spread(J)
    return out


if __name__ == "__main__":  # (pytest's doctest collection imports this file: no global settings on import)
    jax.config.update("jax_enable_x64", True)
    print(json.dumps({"dense": dense, "memory": memory}[sys.argv[1]]()))
