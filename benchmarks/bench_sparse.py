"""Sparse Jacobian benchmark: jacx.sparse against asdex, sparsejac, CasADi (SX), SciPy and dense jax.jacfwd.

Run from the repository root:

    python benchmarks/bench_sparse.py            # full table (several minutes)
    python benchmarks/bench_sparse.py --quick    # small sizes, to check that everything runs
    python benchmarks/bench_sparse.py --eval-detail 32   # jacx vs asdex evaluation, fixed costs separated

For every problem and tool it reports the number of products (colors), preparation time split into detection
and coloring (each repetition prepares a fresh function object, and jacx's pattern cache is emptied, so no
preparation is answered from a cache), evaluation time (median over samples of repeated calls, after a warm-up
call), the peak growth of the process's resident memory while preparing and evaluating, and the largest error
of J @ v against JAX's JVP for random v.
Peers are optional: a tool that is not installed is reported as such.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Self

import jax

if "--sync-dispatch" in sys.argv:  # must precede the first computation (importing jacx makes arrays)
    jax.config.update("jax_cpu_enable_async_dispatch", False)

import jax.numpy as jnp
import numpy as np
import scipy
import scipy.sparse as sp

import jacx.sparse as js
from jacx.sparse.problems import (
    arrow,
    broyden_banded,
    broyden_tridiagonal,
    brusselator_2d,
    conv_layer,
)

DENSE_LIMIT = 8192


# ----------------------------------------------------------------------------------------------- CasADi models
def casadi_problem(name: str, size: int) -> tuple:
    """The same residuals written in CasADi SX (flattened in C order, like the JAX versions)."""
    import casadi as ca

    def take(v: object, idx: np.ndarray) -> object:
        return v[[int(i) for i in np.asarray(idx).ravel()]]

    if name == "brusselator":
        n2 = size * size
        x = ca.SX.sym("x", 2 * n2)
        u, v = x[:n2], x[n2:]
        grid = np.arange(n2).reshape(size, size)
        coef = 0.002 * size**2

        def lap(w: object) -> object:
            shifted = [take(w, np.roll(grid, s, a)) for s, a in ((1, 0), (-1, 0), (1, 1), (-1, 1))]
            return (shifted[0] + shifted[1] + shifted[2] + shifted[3] - 4 * w) * coef

        uuv = u * u * v
        return x, ca.vertcat(1.0 + uuv - 4.4 * u + lap(u), 3.4 * u - uuv + lap(v))
    if name == "broyden-tridiagonal":
        x = ca.SX.sym("x", size)
        xm = ca.vertcat(0, x[: size - 1])
        xp = ca.vertcat(x[1:], 0)
        return x, (3 - 2 * x) * x - xm - 2 * xp + 1
    if name == "broyden-banded":
        x = ca.SX.sym("x", size)
        g = x * (1 + x)
        gp = ca.vertcat(ca.SX.zeros(5), g, ca.SX.zeros(1))
        s = 0
        for k in range(-5, 2):
            if k:
                s = s + gp[5 + k: 5 + k + size]
        return x, x * (2 + 5 * x * x) + 1 - s
    if name == "conv":
        rng = np.random.default_rng(0)  # the weights of jacx.sparse.problems.conv_layer(seed=0)
        c_n, width = 4, 5
        w = rng.normal(size=(c_n, c_n, width)) / np.sqrt(c_n * width)
        b = rng.normal(size=(c_n, 1))
        x = ca.SX.sym("x", c_n * size)
        chans = [ca.vertcat(ca.SX.zeros(2), x[c * size:(c + 1) * size], ca.SX.zeros(2)) for c in range(c_n)]
        outs = []
        for o in range(c_n):
            acc = b[o, 0]
            for c in range(c_n):
                for k in range(width):
                    acc = acc + w[o, c, k] * chans[c][k:k + size]
            outs.append(ca.tanh(acc))
        return x, ca.vertcat(*outs)
    if name == "arrow":
        x = ca.SX.sym("x", size)
        body = x * x + x[0] * x
        return x, ca.vertcat(ca.sum1(ca.sin(x)), body[1:])
    raise ValueError(name)


# ----------------------------------------------------------------------------------------------- measuring
class PeakRSS:
    """Largest resident-set growth (MB) of this process while the block runs, sampled every 2 ms."""

    def __enter__(self) -> Self:
        self.base = self.peak = self._rss()
        self._stop = False
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.002)

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20


def median_time(call: Callable[[], object], reps: int, sample_s: float = 0.02) -> float:
    """Median over ``reps`` samples of the seconds per call.  Each sample repeats the call enough times to last
    about ``sample_s`` (once for slow calls), so that sub-millisecond calls are not lost in timer noise."""
    t = time.perf_counter()
    call()
    once = time.perf_counter() - t
    number = max(1, min(2000, int(sample_s / max(once, 1e-7))))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(number):
            call()
        times.append((time.perf_counter() - t) / number)
    return statistics.median(times)


def fresh(f: Callable) -> Callable:
    """A new function object computing ``f``: caches keyed by the function (jacx's pattern cache, JAX's tracing
    caches, any a peer keeps) cannot answer for it, so every timed preparation starts from scratch."""
    return lambda z: f(z)


def clear_jacx_caches() -> None:
    """Empty jacx's pattern cache too (a fresh function already misses it; this makes sure)."""
    from jacx.sparse import _detect

    _detect._CACHE.clear()


def block(out: object) -> object:
    return jax.block_until_ready(out)


def probe_error(j: sp.csr_array, f: Callable, x: jax.Array, n_probes: int = 3) -> float:
    rng = np.random.default_rng(1)
    flat = lambda z: jnp.ravel(f(z))
    err = 0.0
    for _ in range(n_probes):
        v = rng.standard_normal(x.size)
        ref = np.asarray(jax.jvp(flat, (x,), (jnp.asarray(v, x.dtype).reshape(x.shape),))[1], dtype=np.float64)
        err = max(err, float(np.max(np.abs(j @ v - ref))))
    return err


def bcoo_to_csr(b: object, shape: tuple[int, int], in_shape: tuple[int, ...] = ()) -> sp.csr_array:
    """A (possibly higher-rank: output dims + input dims) BCOO as an (m, n) CSR matrix."""
    idx = np.asarray(b.indices)
    if b.ndim > 2:
        k = b.ndim - len(in_shape)
        rows = np.ravel_multi_index(tuple(idx[:, :k].T), b.shape[:k])
        cols = np.ravel_multi_index(tuple(idx[:, k:].T), b.shape[k:])
    else:
        rows, cols = idx[:, 0], idx[:, 1]
    return sp.csr_array(sp.coo_array((np.asarray(b.data, np.float64), (rows, cols)), shape=shape).tocsr())


# ----------------------------------------------------------------------------------------------- tools
def run_jacx(f: Callable, x: jax.Array, reps: int) -> dict:
    preps = []
    for _ in range(reps):
        clear_jacx_caches()
        jac = js.jacobian(fresh(f), x)
        preps.append(jac.preparation)
    det = statistics.median(p["detection"] for p in preps)
    col = statistics.median(p["coloring"] for p in preps)
    tot = statistics.median(p["total"] for p in preps)
    block(jac(x))
    ev = median_time(lambda: block(jac(x)), reps * 2 + 1)
    return {"colors": jac.n_colors, "mode": jac.mode, "detect": det, "color": col, "prep": tot, "eval": ev,
                "J": js.to_scipy(jac(x)), "method": getattr(jac.coloring, "method", "")}


def run_asdex(f: Callable, x: jax.Array, reps: int) -> dict:
    import asdex

    dets, cols = [], []
    for _ in range(reps):
        g = fresh(f)
        t = time.perf_counter()
        pattern = asdex.jacobian_sparsity(g, x)
        t1 = time.perf_counter()
        coloring = asdex.jacobian_coloring_from_sparsity(pattern)
        t2 = time.perf_counter()
        dets.append(t1 - t)
        cols.append(t2 - t1)
    jf = jax.jit(asdex.jacobian_from_coloring(f, coloring))
    block(jf(x))
    ev = median_time(lambda: block(jf(x)), reps * 2 + 1)
    m, n = pattern.m, pattern.n
    return {"colors": int(coloring.num_colors), "mode": str(coloring.mode), "detect": statistics.median(dets),
                "color": statistics.median(cols), "prep": statistics.median(dets) + statistics.median(cols), "eval": ev,
                "J": bcoo_to_csr(jf(x), (m, n), tuple(x.shape))}


def run_sparsejac(f: Callable, x: jax.Array, reps: int) -> dict:
    import sparsejac
    from jax.experimental import sparse as jsparse

    pattern = js.sparsity(f, x)  # the pattern is given to sparsejac
    bcoo = jsparse.BCOO.from_scipy_sparse(sp.csr_matrix(pattern.astype(np.float32)))
    times = []
    for _ in range(reps):
        flat = fresh(lambda z: jnp.ravel(f(z.reshape(x.shape))))
        t = time.perf_counter()
        jf = jax.jit(sparsejac.jacfwd(flat, sparsity=bcoo))
        times.append(time.perf_counter() - t)
    xf = x.ravel()
    block(jf(xf))
    ev = median_time(lambda: block(jf(xf)), reps * 2 + 1)
    conn = sp.csr_matrix(pattern.T.astype(np.int8) @ pattern.astype(np.int8))
    colors = sparsejac.sparsejac._greedy_color(conn, "largest_first")[1]
    return {"colors": int(colors), "mode": "forward", "detect": float("nan"), "color": statistics.median(times),
                "prep": statistics.median(times), "eval": ev, "J": bcoo_to_csr(jf(xf), pattern.shape)}


def run_casadi(name: str, size: int, f: Callable, x: jax.Array, reps: int) -> dict:
    import casadi

    times = []
    for _ in range(reps):
        t = time.perf_counter()
        sym, expr = casadi_problem(name, size)
        jexpr = casadi.jacobian(expr, sym)
        fun = casadi.Function("J", [sym], [jexpr])
        times.append(time.perf_counter() - t)
    x0 = np.asarray(x, np.float64).ravel()
    fun(x0)
    ev = median_time(lambda: fun(x0), reps * 2 + 1)
    j = sp.csr_array(fun(x0).sparse())
    colors = jexpr.sparsity().uni_coloring().size2()
    return {"colors": int(colors), "mode": "SX", "detect": float("nan"), "color": float("nan"), "prep": statistics.median(times),
                "eval": ev, "J": j}


def run_scipy(f: Callable, x: jax.Array, reps: int) -> dict:

    pattern = js.sparsity(f, x)  # the pattern is given to SciPy
    jax.config.update("jax_enable_x64", True)  # finite differences need float64 evaluations
    try:
        return _run_scipy(f, x, reps, pattern)
    finally:
        jax.config.update("jax_enable_x64", False)


def _run_scipy(f: Callable, x: jax.Array, reps: int, pattern: sp.csr_array) -> dict:
    from scipy.optimize._numdiff import approx_derivative, group_columns

    fx = jax.jit(lambda z: jnp.ravel(f(z.reshape(x.shape))))
    fun = lambda z: np.asarray(fx(jnp.asarray(z, jnp.float64)), dtype=np.float64)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        groups = group_columns(sp.csr_matrix(pattern))
        times.append(time.perf_counter() - t)
    x0 = np.asarray(x, np.float64).ravel()
    call = lambda: approx_derivative(fun, x0, method="2-point", sparsity=(sp.csr_matrix(pattern), groups))
    call()
    ev = median_time(call, reps)
    return {"colors": int(groups.max()) + 1, "mode": "FD", "detect": float("nan"), "color": statistics.median(times),
                "prep": statistics.median(times), "eval": ev, "J": sp.csr_array(call())}


def run_dense(f: Callable, x: jax.Array, reps: int) -> dict:
    if x.size > DENSE_LIMIT:
        raise RuntimeError(f"skipped: n > {DENSE_LIMIT}")
    jf = jax.jit(jax.jacfwd(lambda z: jnp.ravel(f(z))))
    block(jf(x))
    ev = median_time(lambda: block(jf(x)), reps * 2 + 1)
    j = np.asarray(jf(x)).reshape(-1, x.size)
    return {"colors": x.size, "mode": "dense", "detect": float("nan"), "color": float("nan"), "prep": 0.0, "eval": ev,
                "J": sp.csr_array(j)}


def one_jvp_time(f: Callable, x: jax.Array, reps: int) -> float:
    jv = jax.jit(lambda z, v: jax.jvp(f, (z,), (v,))[1])
    v = jnp.ones_like(x)
    block(jv(x, v))
    return median_time(lambda: block(jv(x, v)), reps * 4 + 1)


# ----------------------------------------------------------------------------------------------- driver
def problems(quick: bool) -> list[tuple[str, int, Callable, jax.Array]]:
    out = []
    for n_grid in ([32, 48] if quick else [32, 48, 64, 96, 128]):
        out.append(("brusselator", n_grid, *brusselator_2d(n_grid)))
    for n in ([10_000] if quick else [10_000, 100_000]):
        out.append(("broyden-tridiagonal", n, *broyden_tridiagonal(n)))
        out.append(("broyden-banded", n, *broyden_banded(n)))
    length = 512 if quick else 2048
    out.append(("conv", length, *conv_layer(length)))
    out.append(("arrow", 500 if quick else 2000, *arrow(500 if quick else 2000)))
    return out


def fmt(v: object, digits: int = 3) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.2e}"
    return str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    ap.add_argument("--tools", default="jacx,asdex,sparsejac,casadi,scipy,dense")
    ap.add_argument("--million", action="store_true", help="only the n = 10^6 memory point (10 nonzeros per row)")
    ap.add_argument("--eval-detail", type=int, metavar="N", default=0,
                    help="only the interleaved evaluation comparison on the Brusselator with grid N (fixed costs)")
    ap.add_argument("--sync-dispatch", action="store_true",
                    help="run compiled programs on the calling thread (JAX's jax_cpu_enable_async_dispatch=False; "
                    "read at start-up, before jacx is imported)")
    args = ap.parse_args(argv)
    if args.million:
        return million(args.reps)
    if args.eval_detail:
        return eval_detail(args.eval_detail, max(args.reps, 3) * 10 + 1)
    tools = args.tools.split(",")
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, jax {jax.__version__}, scipy {scipy.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    warm_f, warm_x = broyden_tridiagonal(50)  # compile/JIT warm-up for every tool (numba, XLA)
    for tool in tools:
        try:
            dispatch(tool, "broyden-tridiagonal", 50, warm_f, warm_x, 1)
        except Exception as err:  # noqa: BLE001 - reported again in the table
            print(f"# warm-up of {tool} failed: {type(err).__name__}", file=sys.stderr)
    header = ("| problem | n | tool | colors | detect s | color s | prep s | eval ms | eval / (colors x JVP) "
              "| peak MB | max err |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    summary = []
    for name, size, f, x in problems(args.quick):
        jvp_t = one_jvp_time(f, x, args.reps)
        res = {}
        for tool in tools:
            try:
                with PeakRSS() as mem:
                    r = dispatch(tool, name, size, f, x, args.reps)
                r["peak"] = mem.mb
                r["err"] = probe_error(r.pop("J"), f, x)
                res[tool] = r
                ratio = r["eval"] / (r["colors"] * jvp_t) if tool != "scipy" else float("nan")
                print(f"| {name} | {x.size} | {tool} | {r['colors']} | {fmt(r['detect'])} | {fmt(r['color'])} | "
                      f"{fmt(r['prep'])} | {fmt(r['eval'] * 1e3)} | {fmt(ratio, 2)} | {fmt(r['peak'], 3)} | "
                      f"{fmt(r['err'], 2)} |", flush=True)
            except Exception as err:  # noqa: BLE001 - a failing peer is reported, not fatal
                msg = str(err).splitlines()[0][:80] if str(err) else type(err).__name__
                print(f"| {name} | {x.size} | {tool} | {msg} | | | | | | | |", flush=True)
        if "jacx" in res and "asdex" in res:
            a, b = res["jacx"], res["asdex"]
            summary.append((name, x.size, a["colors"], b["colors"], a["eval"] / b["eval"],
                            (a["detect"] + a["color"]) / (b["detect"] + b["color"]), a["eval"] / (a["colors"] * jvp_t)))
    if summary:
        print("\n| problem | n | jacx colors | asdex colors | eval jacx/asdex | (detect+color) jacx/asdex "
              "| jacx eval / (colors x JVP) |")
        print("|---|---|---|---|---|---|---|")
        for name, n, ca, cb, re, rp, rj in summary:
            print(f"| {name} | {n} | {ca} | {cb} | {re:.2f} | {rp:.2f} | {rj:.2f} |")
    return 0


def million(reps: int) -> int:
    """Prepare and evaluate a 10^6 x 10^6 banded Jacobian with 10 nonzeros per row; report time and memory."""
    f, x = broyden_banded(1_000_000, ml=5, mu=4)
    with PeakRSS() as mem:
        jac = js.jacobian(f, x)
        t = time.perf_counter()
        block(jac(x))
        first = time.perf_counter() - t
        ev = median_time(lambda: block(jac(x)), reps)
    check = js.check_sparse_jacobian(f, x, jac=jac, n_probes=2)
    print(f"n = 10^6 banded (ml=5, mu=4): nnz = {jac.sparsity.nnz}, {jac.n_colors} colors ({jac.mode}); "
          f"detection {jac.preparation['detection']:.2f} s, coloring {jac.preparation['coloring']:.2f} s, "
          f"preparation total {jac.preparation['total']:.2f} s; first call {first:.2f} s, then {ev * 1e3:.0f} ms; "
          f"peak RSS growth {mem.mb:.0f} MB; {check}")
    return 0


def eval_detail(n_grid: int, samples: int) -> int:
    """jacx and asdex evaluation on the Brusselator, interleaved sample by sample in one process, next to one
    JVP of f and a trivial jitted program (``2 * x``: the fixed cost of running any compiled program and waiting
    for its result).  Each sample is the mean of 200 blocked calls; medians over ``samples`` samples."""
    import asdex

    f, x = brusselator_2d(n_grid)
    jac = js.jacobian(f, x)
    pattern = asdex.jacobian_sparsity(f, x)
    ja = jax.jit(asdex.jacobian_from_coloring(f, asdex.jacobian_coloring_from_sparsity(pattern)))
    jv = jax.jit(lambda z, v: jax.jvp(f, (z,), (v,))[1])
    trivial = jax.jit(lambda z: 2.0 * z)
    v = jnp.ones_like(x)
    calls = {"jacx": lambda: jac(x), "asdex": lambda: ja(x), "one JVP": lambda: jv(x, v), "2 * x": lambda: trivial(x)}
    times: dict[str, list[float]] = {k: [] for k in calls}
    for c in calls.values():
        block(c())
    for _ in range(samples):
        for k, c in calls.items():
            t = time.perf_counter()
            for _ in range(200):
                block(c())
            times[k].append((time.perf_counter() - t) / 200)
    med = {k: statistics.median(t) * 1e6 for k, t in times.items()}
    fixed = med["2 * x"]
    print(f"# Brusselator N = {n_grid} (n = {x.size}), jacx {jac.n_colors} products ({jac.layout} layout); "
          f"async CPU dispatch {jax.config.values['jax_cpu_enable_async_dispatch']}; load average {os.getloadavg()[0]:.1f}; "
          f"medians of {samples} samples of 200 blocked calls, microseconds")
    print("| call | us | minus the trivial program |")
    print("|---|---|---|")
    for k, t in med.items():
        print(f"| {k} | {t:.1f} | {t - fixed:.1f} |")
    print(f"jacx / asdex = {med['jacx'] / med['asdex']:.3f}; without the fixed cost "
          f"{(med['jacx'] - fixed) / (med['asdex'] - fixed):.3f}")
    return 0


def dispatch(tool: str, name: str, size: int, f: Callable, x: jax.Array, reps: int) -> dict:
    if tool == "jacx":
        return run_jacx(f, x, reps)
    if tool == "asdex":
        return run_asdex(f, x, reps)
    if tool == "sparsejac":
        return run_sparsejac(f, x, reps)
    if tool == "casadi":
        return run_casadi(name, size, f, x, reps)
    if tool == "scipy":
        return run_scipy(f, x, reps)
    if tool == "dense":
        return run_dense(f, x, reps)
    raise ValueError(f"unknown tool {tool!r}")


if __name__ == "__main__":
    raise SystemExit(main())
