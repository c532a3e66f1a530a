"""The same Jacobians on 1, 2, 4, 8 devices: time, per-device memory, parallel efficiency.

    python benchmarks/bench_scaling.py                  # CPU: 8 simulated devices (XLA's host device count)
    python benchmarks/bench_scaling.py --quick          # smaller problems, fewer repeats
    python benchmarks/bench_scaling.py --devices 1,2,4  # which device counts (default: 1, 2, 4, 8 that exist)

On a machine with accelerators (GPUs), the devices are the real ones; with one GPU the table has one row per
problem, timed against ``jax.jacfwd``/``jax.jacrev`` (dense) and asdex (sparse, if installed) on that GPU.

Each problem's contestants (jacx on D devices for each D, and the one-device peers) are timed interleaved in one
process.  "memory / device" is what XLA's compiled program reserves on each device (arguments, outputs and
temporaries, from ``memory_analysis()``), and on GPUs also the measured peak (``memory_stats()``).  Simulated CPU
devices share the machine's cores: their efficiency is bounded by cores / devices, so the CPU table shows that
the split is correct and what it costs, not a speed-up a cluster would see.
"""

from __future__ import annotations

import argparse
import os
import sys

if "--help" not in sys.argv and "-h" not in sys.argv and "XLA_FLAGS" not in os.environ:
    # 8 CPU devices unless told otherwise (read once, when JAX starts); harmless where GPUs are the devices
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    REPO_ROOT, fmt_time, load_1min, load_average, machine_info, median, spread, text_table, time_interleaved,
    usable_cores, write_report,
)

import jacx  # noqa: E402
import jacx.sparse  # noqa: E402
from jacx.sparse import problems  # noqa: E402


def _mlp(n: int, m: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    w1 = jnp.asarray(rng.normal(size=(width, n)) / np.sqrt(n), jnp.float32)
    w2 = jnp.asarray(rng.normal(size=(m, width)) / np.sqrt(width), jnp.float32)
    return lambda x: w2 @ jnp.tanh(w1 @ x), jnp.asarray(rng.normal(size=n), jnp.float32)


def _compiled_bytes(fn, x) -> int | None:
    """Bytes XLA's compiled ``fn`` reserves per device (arguments + outputs + temporaries), if it says."""
    try:
        stats = jax.jit(fn).lower(x).compile().memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None
    if stats is None:
        return None
    return int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes)


def _peak_bytes() -> int | None:
    stats = [d.memory_stats() for d in jax.local_devices()]
    peaks = [s.get("peak_bytes_in_use") for s in stats if s]
    return max(peaks) if peaks and all(p is not None for p in peaks) else None


def _mib(b: int | None) -> str:
    return "n/a" if b is None else f"{b / 2**20:.1f} MiB"


def _problems(quick: bool) -> list[tuple[str, str, object, object, dict]]:
    """(name, kind, f, x, options)."""
    n = 512 if quick else 2048
    fwd_f, fwd_x = _mlp(n, n, 256)
    rev_f, rev_x = _mlp(4 * n, n // 4, 256, seed=1)
    brus_n = 32 if quick else 96
    brus_f, brus_x = problems.brusselator_2d(brus_n)
    st_n = 16 if quick else 32
    st_f, st_x = problems.stencil_3d(st_n)
    return [
        (f"dense MLP {n} -> {n} (forward)", "dense", fwd_f, fwd_x, {"mode": "forward"}),
        (f"dense MLP {4 * n} -> {n // 4} (reverse)", "dense", rev_f, rev_x, {"mode": "reverse"}),
        (f"sparse Brusselator 2D N={brus_n} (n={2 * brus_n**2})", "sparse", brus_f, brus_x, {}),
        (f"sparse 3D stencil N={st_n} (n={st_n**3})", "sparse", st_f, st_x, {}),
    ]


def _peers(kind: str, f, x, opts: dict) -> dict:
    if kind == "dense":
        peer = jax.jit(jax.jacfwd(f) if opts.get("mode") == "forward" else jax.jacrev(f))
        name = "jax.jacfwd" if opts.get("mode") == "forward" else "jax.jacrev"
        return {f"{name} (1 device)": lambda: peer(x).block_until_ready()}
    try:
        import asdex
    except ImportError:
        return {}
    coloring = asdex.jacobian_coloring_from_sparsity(asdex.jacobian_sparsity(f, x))
    prepared = jax.jit(asdex.jacobian_from_coloring(f, coloring))
    return {"asdex (1 device)": lambda: jax.block_until_ready(prepared(x))}


def run(quick: bool, counts: list[int], repeats: int) -> tuple[str, dict]:
    load_start = load_average()
    rows = []
    for name, kind, f, x, opts in _problems(quick):
        contestants, memory = {}, {}
        for d in counts:
            devices = jax.devices()[:d]
            if kind == "dense":
                jac = jacx.jacobian(f, devices=devices, **opts)
                contestants[f"jacx, {d} device(s)"] = lambda jac=jac: jax.block_until_ready(jac(x))
                memory[d] = _compiled_bytes(lambda z, d=d: jacx.jacobian(f, devices=jax.devices()[:d], **opts)(z), x)
            else:
                jac = jacx.sparse.jacobian(f, x, devices=devices, **opts)
                contestants[f"jacx, {d} device(s)"] = lambda jac=jac: jax.block_until_ready(jac(x).data)
                memory[d] = _compiled_bytes(lambda z, jac=jac: jac(z).data, x)
        contestants.update(_peers(kind, f, x, opts))
        samples = time_interleaved(contestants, repeats=repeats, target_s=0.2 if quick else 0.5)
        base = median(samples[f"jacx, {counts[0]} device(s)"])
        for label, times in samples.items():
            t = median(times)
            d = int(label.split(", ")[1].split()[0]) if label.startswith("jacx") else 1
            speedup = base / t
            rows.append([name, label, fmt_time(t), f"+-{spread(times):.0%}", f"{speedup:.2f}x",
                         f"{speedup / (d / counts[0]):.0%}" if label.startswith("jacx") else "",
                         _mib(memory.get(d)) if label.startswith("jacx") else ""])
        print(text_table(["problem", "contestant", "median", "noise", "speed-up", "efficiency", "memory / device"],
                         rows[-len(samples):]), flush=True)
    load_end = load_average()
    body = text_table(["problem", "contestant", "median", "noise", "speed-up", "efficiency", "memory / device"], rows)
    peak = _peak_bytes()
    extra = {"devices": f"{len(jax.devices())} x {jax.devices()[0].device_kind}",
             "load average at start / end": f"{load_start} | {load_end}"}
    if peak is not None:
        extra["measured peak per device"] = _mib(peak)
    # the start figure is the machine's other work; the end figure includes this benchmark's own threads (each
    # simulated device runs its own), so it is recorded but not judged
    if load_1min(load_start) > usable_cores():
        body += "\n\nThe machine was busy (load above the core count at the start): do not read ratios off this run."
    return body, extra


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller problems and fewer repeats (a smoke run)")
    ap.add_argument("--devices", default=None, help="comma-separated device counts, e.g. 1,2,4,8")
    ap.add_argument("--repeats", type=int, default=None, help="timing rounds per problem (default 7, quick 3)")
    ap.add_argument("--output", default=None, help="Markdown report (default docs/benchmarks-scaling.md; "
                    "not written with --quick)")
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", False)
    available = len(jax.devices())
    counts = [int(c) for c in args.devices.split(",")] if args.devices else [c for c in (1, 2, 4, 8) if c <= available]
    if any(c > available or c < 1 for c in counts):
        ap.error(f"--devices {args.devices}: this machine has {available} devices")
    body, extra = run(args.quick, counts, args.repeats or (3 if args.quick else 7))
    info = machine_info(["jax", "jaxlib", "asdex"], extra)
    print()
    print(body)
    if args.output or not args.quick:
        write_report(args.output or str(REPO_ROOT / "docs" / "benchmarks-scaling.md"),
                     "Scaling over devices", info, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
