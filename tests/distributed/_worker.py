"""Run in a subprocess with several simulated CPU devices (see test_devices.py); prints one JSON object.

Usage: python _worker.py CHECK  (CHECK: dense, memory, sparse, estimators, context)
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
    # 4096 x 4096 float64 = 128 MiB: even an eighth (16 MiB) is over one device's budget
    big = 4096
    Wb = jnp.ones((big, 1)) / big
    try:
        jacx.jacobian(lambda v: jnp.tanh(Wb @ v[:1]) + v, mode="forward", devices="all")(jnp.ones(big))
        out["too large for eight"] = "computed"
    except jacx.JacobianTooLargeError as err:
        out["too large for eight"] = "too large: " + str(err)
    return out


def _compiles() -> list:
    events: list = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: events.append(event) if event == "/jax/core/compile/backend_compile_duration"
        else None)
    return events


def sparse() -> dict:
    import jacx.sparse
    from jacx.sparse import problems

    rng = np.random.default_rng(2)
    n = 40

    def chain(x):  # banded: 3 forward colors, a compressed layout
        return x[1:] ** 2 - jnp.sin(x[:-1]) * x[0]

    def arrow(x):  # a dense row and a dense column: colored from both sides
        return jnp.concatenate([x[:1] * jnp.sum(x**2), x[1:] * x[0] + jnp.cos(x[1:])])

    def params_fn(p, t):  # pytree input, a second (not differentiated) argument, aux output
        y = jnp.tanh(p["w"] * t) + jnp.roll(p["w"], 1) * p["b"][0]
        return {"y": y, "s": p["b"] ** 2}, {"t": t}

    x = jnp.asarray(rng.normal(size=n))
    brus_f, xb = problems.brusselator_2d(8)
    xb = jnp.asarray(xb, jnp.float64)
    p = {"w": jnp.asarray(rng.normal(size=12)), "b": jnp.asarray(rng.normal(size=3))}
    t = jnp.asarray(rng.normal(size=12))
    cases = {
        "chain forward": (chain, (x,), dict(mode="forward")),
        "chain reverse": (chain, (x,), dict(mode="reverse")),
        "arrow bidirectional": (arrow, (x,), dict(mode="bidirectional")),
        "arrow auto": (arrow, (x,), dict()),
        "brusselator": (brus_f, (xb,), dict()),
        "pytree aux": (params_fn, (p, t), dict(has_aux=True)),
    }
    out: dict = {"devices": len(jax.devices()), "cases": {}}
    for name, (fun, args, opts) in cases.items():
        ref_jac = jacx.sparse.jacobian(fun, *args, **opts)
        ref = ref_jac(*args)
        ref_dense = np.asarray((ref[0] if opts.get("has_aux") else ref).todense())
        for d in (1, 2, 4, 8):
            for gather in (False, True):
                jac = jacx.sparse.jacobian(fun, *args, devices=jax.devices()[:d], gather=gather, **opts)
                got = jac(*args)
                bcoo = got[0] if opts.get("has_aux") else got
                diff = float(np.max(np.abs(np.asarray(bcoo.todense()) - ref_dense)))
                scipy_diff = float(np.max(np.abs(jac.to_scipy(*args).toarray() - ref_dense)))
                out["cases"][f"{name} / {d} / {'gathered' if gather else 'split'}"] = {
                    "diff": max(diff, scipy_diff), "colors": [jac.n_colors, ref_jac.n_colors], "mode": jac.mode,
                    "layout": jac.layout, "spread": _spread((bcoo.data, bcoo.indices))}
    # one compilation per shape (values and data), none for new values
    compiles = _compiles()
    jac8 = jacx.sparse.jacobian(lambda v: jnp.sin(v[1:]) * v[:-1] ** 3, x, devices="all")
    inputs = jax.block_until_ready([x + k for k in range(6)])
    before = len(compiles)
    jax.block_until_ready(jac8(inputs[0]).data)
    out["compiles_first_call"] = len(compiles) - before
    before = len(compiles)
    for z in inputs[1:]:
        jax.block_until_ready(jac8(z).data)
    out["compiles_later_calls"] = len(compiles) - before
    # under the user's jit and vmap
    jac4 = jacx.sparse.jacobian(chain, x, devices=jax.devices()[:4])
    batch = jnp.stack([x, 2 * x, -x])
    ref_b = np.stack([np.asarray(jacx.sparse.jacobian(chain, x)(z).todense()) for z in batch])
    got_jit = jax.jit(lambda z: jac4(z).todense())(x)
    got_vmap = jax.vmap(lambda z: jac4(z).todense())(batch)
    out["jit diff"] = float(np.max(np.abs(np.asarray(got_jit) - ref_b[0])))
    out["vmap diff"] = float(np.max(np.abs(np.asarray(got_vmap) - ref_b)))
    return out


def estimators() -> dict:
    import jacx.logdet as jl

    rng = np.random.default_rng(3)
    n = 20
    A = jnp.asarray(rng.normal(size=(n, n)) / np.sqrt(n))

    def field(v):  # dense Jacobian
        return jnp.tanh(A @ v) + v**3

    def lower(v):  # lower triangular: a structured log-det
        return 1.5 * jnp.cumsum(v) + jnp.sin(v)

    def band(v):  # tridiagonal: a colored trace
        return v * jnp.cos(v) + 0.3 * jnp.roll(v, 1) ** 2 + 0.2 * jnp.roll(v, -1)

    x = jnp.asarray(rng.normal(size=n))
    key = jax.random.key(7)
    op = jl.jacobian_operator(field, x)
    cases = {
        "trace dense": lambda devs: jl.trace(field, devices=devs)(x).value,
        "trace dense chunked": lambda devs: jl.trace(field, chunk_size=3, devices=devs)(x).value,
        "trace colored": lambda devs: jl.trace(band, devices=devs)(x).value,
        "hutchinson": lambda devs: jl.hutchinson(op, key, 10, devices=devs).value,
        "hutchinson operator": lambda devs: jl.hutchinson(jl.jacobian_operator(field, x, devices=devs), key, 9).value,
        "hutchinson matrix": lambda devs: jl.hutchinson(A, key, 7, probe="gaussian", devices=devs).value,
        "hutch++": lambda devs: jl.hutchpp(op, key, 12, devices=devs).value,
        "logdet dense": lambda devs: jl.logdet(field, devices=devs)(x).logabsdet,
        "logdet triangular": lambda devs: jl.logdet(lower, devices=devs)(x).logabsdet,
        "logdet banded": lambda devs: jl.logdet(band, devices=devs)(x).logabsdet,
        "slogdet": lambda devs: jl.slogdet(field, devices=devs)(x).logabsdet,
    }
    out: dict = {"cases": {}}
    for name, run in cases.items():
        ref = float(run(None))
        for d in (1, 2, 4, 8):
            got = float(run(jax.devices()[:d]))
            out["cases"][f"{name} / {d}"] = {"diff": abs(got - ref), "scale": abs(ref)}
    return out


def context() -> dict:
    """devices=None under jax.set_mesh: a mesh with automatic axes is used, one with explicit axes is not."""
    import warnings

    import jacx.logdet as jl
    import jacx.sparse
    from jax.sharding import AxisType

    rng = np.random.default_rng(4)
    A = jnp.asarray(rng.normal(size=(8, 8)))
    f = lambda v: jnp.tanh(A @ v) * v[0]  # noqa: E731
    chain = lambda v: v[1:] ** 2 - jnp.sin(v[:-1])  # noqa: E731
    x = jnp.asarray(rng.normal(size=8))
    ref = jax.jacfwd(f)(x)
    ref_sparse = np.asarray(jax.jacfwd(chain)(x))
    ref_trace = float(jnp.trace(jax.jacfwd(f)(x)))
    jac = jacx.jacobian(f, mode="forward")  # made outside the mesh context, called inside it
    out: dict = {"outside": _spread(jac(x))}
    auto = jax.make_mesh((4,), ("d",), axis_types=(AxisType.Auto,))
    with jax.set_mesh(auto):
        got = jac(x)
        sj = jacx.sparse.jacobian(chain, x)
        bcoo = sj(x)
        inside_jit = jax.jit(lambda z: jacx.jacobian(f, mode="reverse")(z))(x)
        tr = jl.trace(f)(x).value
        out["auto"] = {"diff": _max_diff(got, ref), "spread": _spread(got),
                       "jit diff": _max_diff(inside_jit, ref), "jit spread": _spread(inside_jit),
                       "sparse diff": float(np.max(np.abs(np.asarray(bcoo.todense()) - ref_sparse))),
                       "sparse devices": sj.devices, "sparse spread": _spread(bcoo.data),
                       "trace diff": abs(float(tr) - ref_trace)}
    explicit = jax.make_mesh((4,), ("d",), axis_types=(AxisType.Explicit,))
    with warnings.catch_warnings(record=True) as caught, jax.set_mesh(explicit):
        warnings.simplefilter("always")
        got = jac(x)
        out["explicit"] = {"diff": _max_diff(got, ref), "warnings": [str(w.message) for w in caught]}
    return out


if __name__ == "__main__":  # (pytest's doctest collection imports this file: no global settings on import)
    jax.config.update("jax_enable_x64", True)
    checks = {"dense": dense, "memory": memory, "sparse": sparse, "estimators": estimators, "context": context}
    print(json.dumps(checks[sys.argv[1]]()))
