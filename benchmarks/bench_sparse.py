"""Sparse Jacobian benchmark: jacx.sparse against asdex, sparsejac, CasADi (SX), SciPy and dense jax.jacfwd.

Run from the repository root:

    python benchmarks/bench_sparse.py            # full table, every problem below (15-20 min on 2 idle cores)
    python benchmarks/bench_sparse.py --quick    # small sizes of every problem, to check that all runs (~70 s)
    python benchmarks/bench_sparse.py --problems brusselator/random,mesh   # only these problems (full sizes)
    python benchmarks/bench_sparse.py --problems brusselator@64,stencil-3d@46 --tools jacx,asdex
    python benchmarks/bench_sparse.py --eval-detail 32   # jacx vs asdex evaluation, fixed costs separated
    python benchmarks/bench_sparse.py --million          # only the n = 10^6 memory point

Problems (``jacx.sparse.problems``; full sizes, ``--quick`` sizes in brackets); ``--problems`` takes a
comma-separated list of the names, ``name/layout`` for one Brusselator layout, and ``@size`` for one size:

* ``brusselator``: ``brusselator_2d(N, layout=L)`` for every L in ``LAYOUTS`` (shaped ``(2, N, N)``, flat,
  interleaved ``(N, N, 2)``, random: unknowns and residuals permuted, seed 0), N = 32, 48, 64, 96, 128 [24, 32];
* ``broyden-tridiagonal``, ``broyden-banded``: n = 10^4, 10^5 [10^4];
* ``conv``: a 4-channel 1-D convolution layer of length 2048 [512]; ``arrow``: n = 2000 [500];
* ``stencil-3d``: ``stencil_3d(N)``, 7-point stencil over a flat vector, zero boundaries, N = 20, 46 [10]
  (N = 46: n = 97336); ``stencil-3d-periodic``: ``stencil_3d(N, periodic=True)``, N = 24 [12];
* ``mesh``: ``mesh_laplacian(n)``, Delaunay mesh of n random points, gather + scatter-add over the edges,
  n = 2000, 20000, 100000 [2000].

For every problem and tool the table reports the coloring method (jacx: ``jac.coloring.method``, e.g.
"lattice(2, 48, 48)", "lattice(48, 48, 2) from the graph" or "smallest_last"), the number of products (colors),
preparation time split into detection and coloring (each repetition prepares a fresh function object, and jacx's
pattern cache is emptied, so no preparation is answered from a cache), evaluation time (median over samples of
repeated calls, after a warm-up call), the ratio of that to colors x one JVP of f, the peak growth of the process's
resident memory while preparing and evaluating, and the largest error of J @ v against JAX's JVP for random v.
The summary table compares jacx with asdex on every problem and layout. The load average is printed at the start
and at the end of the run (the machine should be otherwise idle for the timings to mean much).

Peers: asdex detects and colors by itself; sparsejac and SciPy are given the pattern (detected by jacx, not timed);
CasADi gets the same residual written in SX (``casadi_problem``: the same layout or permutation, stencil, mesh
points, edges and float32-rounded weights as the JAX problem, rebuilt from the same seed). Before its timings
each CasADi model is evaluated at a random point against the JAX residual (both in float64): the difference is
printed in the "note" column and the run stops with an error if it is larger than ``MODEL_TOL`` relative.
A peer that is not installed or fails is reported as such in its row.

Slow peers: a peer whose preparation on a problem takes more than about a minute can be given a size cap in
``PEER_CAPS`` (tool -> problem -> largest n); it is then skipped there with a note in the table instead of holding
up the run (``--no-caps`` lifts the caps). None is needed at the sizes above: spot checks on a 2-core machine gave
CasADi SX about 27 s per preparation on the 10^5-point mesh (Python expression building 4 s, ``casadi.jacobian``
22 s) and 3 s on the N = 46 stencil, asdex 15 s (detection) on the 10^5 mesh, sparsejac's networkx coloring under
10 s everywhere. A tool's preparation is repeated at most until ``PREP_BUDGET_S`` seconds are spent on it (the
median is then over fewer repetitions, and the note column says so). Dense jax.jacfwd is skipped above
n = ``DENSE_LIMIT``.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import jax

if "--sync-dispatch" in sys.argv:  # must precede the first computation (importing jacx makes arrays)
    jax.config.update("jax_cpu_enable_async_dispatch", False)

import jax.numpy as jnp
import numpy as np
import scipy
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import jacx.sparse as js  # noqa: E402
from jacx.sparse.problems import (  # noqa: E402
    LAYOUTS,
    arrow,
    broyden_banded,
    broyden_tridiagonal,
    brusselator_2d,
    conv_layer,
    mesh_laplacian,
    stencil_3d,
)

DENSE_LIMIT = 8192
BRUSSELATOR_SEED = 0  # the permutation of the random layout (the JAX problem and the CasADi model alike)
MESH_SEED = 0  # the points of the mesh
MODEL_TOL = 1e-9  # largest |F_casadi - F_jax| allowed, relative to max(1, max |F_jax|), both in float64
PREP_BUDGET_S = 60.0  # stop repeating a tool's preparation once this many seconds are spent on it

PEER_CAPS: dict[str, dict[str, int]] = {
    # tool -> problem -> the largest number of unknowns the tool is run on, e.g. {"casadi": {"mesh": 20_000}};
    # empty: every peer prepares every problem of the full table in under a minute (see the module docstring)
}


class Skipped(Exception):
    """A tool left out on a problem on purpose (size cap, dense limit): a note in the table, not a failure."""


class ModelMismatch(AssertionError):
    """A CasADi model does not compute the JAX problem's residual: the benchmark would compare different things."""


# ----------------------------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Case:
    """One row group of the table: a problem of ``jacx.sparse.problems`` at one size (and layout)."""

    name: str
    size: int  # the constructor's size argument: grid N, vector length or number of points
    layout: str = "-"  # the Brusselator's state layout; "-" for problems with one layout

    def build(self) -> tuple[Callable, jax.Array]:
        if self.name == "brusselator":
            return brusselator_2d(self.size, layout=self.layout, seed=BRUSSELATOR_SEED)
        if self.name == "stencil-3d":
            return stencil_3d(self.size)
        if self.name == "stencil-3d-periodic":
            return stencil_3d(self.size, periodic=True)
        if self.name == "mesh":
            return mesh_laplacian(self.size, seed=MESH_SEED)
        builder = {"broyden-tridiagonal": broyden_tridiagonal, "broyden-banded": broyden_banded,
                   "conv": conv_layer, "arrow": arrow}[self.name]
        return builder(self.size)

    def matches(self, token: str) -> bool:
        """``name``, ``name/layout``, ``name@size`` or ``name/layout@size``."""
        what, _, size = token.partition("@")
        name, _, layout = what.partition("/")
        return (name == self.name and (not layout or layout == self.layout)
                and (not size or int(size) == self.size))


def cases(quick: bool) -> list[Case]:
    out = []
    for n_grid in ([24, 32] if quick else [32, 48, 64, 96, 128]):
        out += [Case("brusselator", n_grid, layout) for layout in LAYOUTS]
    for n in ([10_000] if quick else [10_000, 100_000]):
        out += [Case("broyden-tridiagonal", n), Case("broyden-banded", n)]
    out.append(Case("conv", 512 if quick else 2048))
    out.append(Case("arrow", 500 if quick else 2000))
    out += [Case("stencil-3d", n) for n in ([10] if quick else [20, 46])]
    out.append(Case("stencil-3d-periodic", 12 if quick else 24))
    out += [Case("mesh", n) for n in ([2000] if quick else [2000, 20_000, 100_000])]
    return out


PROBLEM_NAMES = ("brusselator", "broyden-tridiagonal", "broyden-banded", "conv", "arrow", "stencil-3d",
                 "stencil-3d-periodic", "mesh")


# ----------------------------------------------------------------------------------------------- CasADi models
def casadi_problem(name: str, size: int, layout: str = "-") -> tuple:
    """The same residuals written in CasADi SX, over the flat vector of the JAX problem's input in C order and
    giving its output flattened in C order (for the interleaved Brusselator: the (N, N, 2) order; for the random
    one: the same permutation of unknowns and residuals)."""
    import casadi as ca

    def take(v: object, idx: np.ndarray) -> object:
        return v[[int(i) for i in np.asarray(idx).ravel()]]

    if name == "brusselator":
        n2 = size * size
        z = ca.SX.sym("x", 2 * n2)
        order = np.arange(2 * n2)
        if layout in ("shaped", "flat"):
            x = z
        elif layout == "interleaved":  # z holds (N, N, 2): the (2, N, N) state is its transpose
            x = take(z, order.reshape(size, size, 2).transpose(2, 0, 1))
        elif layout == "random":  # as jacx.sparse.problems: the state is z[inv], the output r[perm]
            perm = np.random.default_rng(BRUSSELATOR_SEED).permutation(2 * n2)
            x = take(z, np.argsort(perm))
        else:
            raise ValueError(f"brusselator layout {layout!r}")
        u, v = x[:n2], x[n2:]
        grid = np.arange(n2).reshape(size, size)
        coef = 0.002 * size**2

        def lap(w: object) -> object:
            shifted = [take(w, np.roll(grid, s, a)) for s, a in ((1, 0), (-1, 0), (1, 1), (-1, 1))]
            return (shifted[0] + shifted[1] + shifted[2] + shifted[3] - 4 * w) * coef

        uuv = u * u * v
        r = ca.vertcat(1.0 + uuv - 4.4 * u + lap(u), 3.4 * u - uuv + lap(v))
        if layout == "interleaved":
            r = take(r, order.reshape(2, size, size).transpose(1, 2, 0))
        elif layout == "random":
            r = take(r, perm)
        return z, r
    if name in ("stencil-3d", "stencil-3d-periodic"):
        n3 = size**3
        x = ca.SX.sym("x", n3)
        grid = np.arange(n3).reshape(size, size, size)
        if name == "stencil-3d-periodic":
            near = [take(x, np.roll(grid, s, a)) for a in range(3) for s in (1, -1)]
        else:  # index n3 is a zero outside the grid
            xz = ca.vertcat(x, ca.SX.zeros(1))
            g = np.pad(grid, 1, constant_values=n3)
            mid = slice(1, -1)
            near = [take(xz, g[sl]) for sl in ((slice(2, None), mid, mid), (slice(None, -2), mid, mid),
                                               (mid, slice(2, None), mid), (mid, slice(None, -2), mid),
                                               (mid, mid, slice(2, None)), (mid, mid, slice(None, -2)))]
        return x, near[0] + near[1] + near[2] + near[3] + near[4] + near[5] - 6.0 * x + x * x - 1.0
    if name == "mesh":
        from scipy.spatial import Delaunay

        pts = np.random.default_rng(MESH_SEED).random((size, 2))  # as jacx.sparse.problems.mesh_laplacian
        tri = Delaunay(pts).simplices
        edges = np.unique(np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]), axis=1), axis=0)
        w = (1.0 / np.linalg.norm(pts[edges[:, 0]] - pts[edges[:, 1]], axis=1)).astype(np.float32).astype(np.float64)
        x = ca.SX.sym("x", size)
        flux = ca.DM(w) * (take(x, edges[:, 0]) - take(x, edges[:, 1]))  # gather
        n_e = len(edges)
        scatter = ca.DM.triplet([int(k) for k in edges[:, 0]] + [int(k) for k in edges[:, 1]], list(range(n_e)) * 2,
                                [1.0] * n_e + [-1.0] * n_e, size, n_e)  # values in triplet order
        return x, ca.mtimes(scatter, flux) + x**3 - 1.0  # scatter-add: +flux at i, -flux at j
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
        rng = np.random.default_rng(0)  # the weights of jacx.sparse.problems.conv_layer(seed=0), rounded to float32
        c_n, width = 4, 5
        w = (rng.normal(size=(c_n, c_n, width)) / np.sqrt(c_n * width)).astype(np.float32).astype(np.float64)
        b = rng.normal(size=(c_n, 1)).astype(np.float32).astype(np.float64)
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


def casadi_model_error(sym: object, expr: object, f: Callable, x: jax.Array) -> tuple[float, float]:
    """Largest |F_casadi - F_jax| at a random point near ``x`` (both in float64) and the largest |F_jax|."""
    import casadi

    x0 = np.asarray(x, np.float64).ravel()
    xr = x0 + 0.1 * np.random.default_rng(2).standard_normal(x0.size)
    got = np.asarray(casadi.Function("F", [sym], [expr])(xr), np.float64).ravel()
    jax.config.update("jax_enable_x64", True)
    try:
        ref = np.asarray(f(jnp.asarray(xr.reshape(x.shape), jnp.float64)), np.float64).ravel()
    finally:
        jax.config.update("jax_enable_x64", False)
    if got.shape != ref.shape:
        raise ModelMismatch(f"CasADi model gives {got.size} residuals, JAX {ref.size}")
    return float(np.max(np.abs(got - ref))), float(np.max(np.abs(ref)))


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
def timed_preparations(prepare: Callable[[], object], reps: int) -> tuple[list[float], object, str]:
    """Run ``prepare`` ``reps`` times (each from scratch) and return the seconds of each, the last result and a
    note; stops repeating once ``PREP_BUDGET_S`` seconds are spent."""
    times: list[float] = []
    out = None
    for _ in range(reps):
        t = time.perf_counter()
        out = prepare()
        times.append(time.perf_counter() - t)
        if sum(times) > PREP_BUDGET_S:
            break
    note = f"prep x{len(times)} (budget {PREP_BUDGET_S:.0f} s)" if len(times) < reps else ""
    return times, out, note


def run_jacx(case: Case, f: Callable, x: jax.Array, reps: int) -> dict:
    preps = []
    for _ in range(reps):
        clear_jacx_caches()
        jac = js.jacobian(fresh(f), x)
        preps.append(jac.preparation)
        if sum(p["total"] for p in preps) > PREP_BUDGET_S:
            break
    det = statistics.median(p["detection"] for p in preps)
    col = statistics.median(p["coloring"] for p in preps)
    tot = statistics.median(p["total"] for p in preps)
    block(jac(x))
    ev = median_time(lambda: block(jac(x)), reps * 2 + 1)
    method = str(getattr(jac.coloring, "method", ""))
    if jac.mode != "forward":
        method = f"{jac.mode}: {method}"
    return {"colors": jac.n_colors, "method": method, "detect": det, "color": col, "prep": tot, "eval": ev,
            "J": js.to_scipy(jac(x)), "note": f"prep x{len(preps)} (budget)" if len(preps) < reps else ""}


def run_asdex(case: Case, f: Callable, x: jax.Array, reps: int) -> dict:
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
        if sum(dets) + sum(cols) > PREP_BUDGET_S:
            break
    jf = jax.jit(asdex.jacobian_from_coloring(f, coloring))
    block(jf(x))
    ev = median_time(lambda: block(jf(x)), reps * 2 + 1)
    m, n = pattern.m, pattern.n
    return {"colors": int(coloring.num_colors), "method": str(coloring.mode), "detect": statistics.median(dets),
            "color": statistics.median(cols), "prep": statistics.median(dets) + statistics.median(cols), "eval": ev,
            "J": bcoo_to_csr(jf(x), (m, n), tuple(x.shape)),
            "note": f"prep x{len(dets)} (budget)" if len(dets) < reps else ""}


def run_sparsejac(case: Case, f: Callable, x: jax.Array, reps: int) -> dict:
    import sparsejac
    from jax.experimental import sparse as jsparse

    pattern = js.sparsity(f, x)  # the pattern is given to sparsejac
    bcoo = jsparse.BCOO.from_scipy_sparse(sp.csr_matrix(pattern.astype(np.float32)))
    colors = []
    greedy = sparsejac.sparsejac._greedy_color

    def counting(*args: object, **kwargs: object) -> tuple:  # records the number of colors sparsejac uses
        out = greedy(*args, **kwargs)
        colors.append(out[1])
        return out

    def prepare() -> Callable:
        flat = fresh(lambda z: jnp.ravel(f(z.reshape(x.shape))))
        return jax.jit(sparsejac.jacfwd(flat, sparsity=bcoo))

    sparsejac.sparsejac._greedy_color = counting
    try:
        times, jf, note = timed_preparations(prepare, reps)
    finally:
        sparsejac.sparsejac._greedy_color = greedy
    xf = x.ravel()
    block(jf(xf))
    ev = median_time(lambda: block(jf(xf)), reps * 2 + 1)
    return {"colors": int(colors[-1]), "method": "largest_first (networkx)", "detect": float("nan"),
            "color": statistics.median(times), "prep": statistics.median(times), "eval": ev,
            "J": bcoo_to_csr(jf(xf), pattern.shape), "note": note}


def run_casadi(case: Case, f: Callable, x: jax.Array, reps: int) -> dict:
    import casadi

    def prepare() -> tuple:
        sym, expr = casadi_problem(case.name, case.size, case.layout)
        jexpr = casadi.jacobian(expr, sym)
        return sym, expr, jexpr, casadi.Function("J", [sym], [jexpr])

    times, (sym, expr, jexpr, fun), note = timed_preparations(prepare, reps)
    err, scale = casadi_model_error(sym, expr, f, x)
    if not err <= MODEL_TOL * max(1.0, scale):
        raise ModelMismatch(f"the CasADi model of {case.name} {case.layout} (size {case.size}) differs from the JAX "
                            f"residual by up to {err:.3g} (max |F| {scale:.3g}) at a random point")
    x0 = np.asarray(x, np.float64).ravel()
    fun(x0)
    ev = median_time(lambda: fun(x0), reps * 2 + 1)
    j = sp.csr_array(fun(x0).sparse())
    colors = jexpr.sparsity().uni_coloring().size2()
    return {"colors": int(colors), "method": "SX", "detect": float("nan"), "color": float("nan"),
            "prep": statistics.median(times), "eval": ev, "J": j,
            "note": "; ".join(s for s in (f"F - F_jax {err:.1e}", note) if s)}


def run_scipy(case: Case, f: Callable, x: jax.Array, reps: int) -> dict:

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
    times, groups, note = timed_preparations(lambda: group_columns(sp.csr_matrix(pattern)), reps)
    x0 = np.asarray(x, np.float64).ravel()
    call = lambda: approx_derivative(fun, x0, method="2-point", sparsity=(sp.csr_matrix(pattern), groups))
    call()
    ev = median_time(call, reps)
    return {"colors": int(groups.max()) + 1, "method": "FD 2-point, group_columns", "detect": float("nan"),
            "color": statistics.median(times), "prep": statistics.median(times), "eval": ev, "J": sp.csr_array(call()),
            "note": note}


def run_dense(case: Case, f: Callable, x: jax.Array, reps: int) -> dict:
    jf = jax.jit(jax.jacfwd(lambda z: jnp.ravel(f(z))))
    block(jf(x))
    ev = median_time(lambda: block(jf(x)), reps * 2 + 1)
    j = np.asarray(jf(x)).reshape(-1, x.size)
    return {"colors": x.size, "method": "jacfwd", "detect": float("nan"), "color": float("nan"), "prep": 0.0,
            "eval": ev, "J": sp.csr_array(j), "note": ""}


def one_jvp_time(f: Callable, x: jax.Array, reps: int) -> float:
    jv = jax.jit(lambda z, v: jax.jvp(f, (z,), (v,))[1])
    v = jnp.ones_like(x)
    block(jv(x, v))
    return median_time(lambda: block(jv(x, v)), reps * 4 + 1)


TOOLS: dict[str, Callable[[Case, Callable, jax.Array, int], dict]] = {
    "jacx": run_jacx, "asdex": run_asdex, "sparsejac": run_sparsejac, "casadi": run_casadi, "scipy": run_scipy,
    "dense": run_dense,
}


def dispatch(tool: str, case: Case, f: Callable, x: jax.Array, reps: int, caps: bool = True) -> dict:
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; expected some of {','.join(TOOLS)}")
    if tool == "dense" and x.size > DENSE_LIMIT:
        raise Skipped(f"n > {DENSE_LIMIT}")
    cap = PEER_CAPS.get(tool, {}).get(case.name)
    if caps and cap is not None and x.size > cap:
        raise Skipped(f"n > {cap} (size cap: preparation over ~{PREP_BUDGET_S:.0f} s)")
    return TOOLS[tool](case, f, x, reps)


# ----------------------------------------------------------------------------------------------- driver
def fmt(v: object, digits: int = 3) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.2e}"
    return str(v)


def ratio(a: float, b: float) -> float:
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else float("nan")


def select(all_cases: list[Case], spec: str) -> list[Case]:
    tokens = [t.strip() for t in spec.split(",") if t.strip()]
    for token in tokens:
        what, _, size = token.partition("@")
        name, _, layout = what.partition("/")
        if name not in PROBLEM_NAMES or (layout and layout not in LAYOUTS) or (size and not size.isdigit()):
            raise SystemExit(f"--problems: unknown {token!r}; names: {', '.join(PROBLEM_NAMES)} "
                             f"(brusselator/LAYOUT for one of {', '.join(LAYOUTS)}; NAME@SIZE for one size)")
    chosen = [c for c in all_cases if any(c.matches(t) for t in tokens)]
    for token in tokens:  # a size not in the list is built on request (e.g. brusselator@256)
        what, _, size = token.partition("@")
        name, _, layout = what.partition("/")
        if size and not any(c.matches(token) for c in chosen):
            chosen += [Case(name, int(size), lay) for lay in ([layout] if layout else LAYOUTS)] \
                if name == "brusselator" else [Case(name, int(size))]
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    ap.add_argument("--tools", default="jacx,asdex,sparsejac,casadi,scipy,dense")
    ap.add_argument("--problems", default="", metavar="NAMES",
                    help="comma-separated problems to run: " + ", ".join(PROBLEM_NAMES)
                    + "; brusselator/LAYOUT for one layout, NAME@SIZE for one size (default: all)")
    ap.add_argument("--no-caps", action="store_true", help="run every peer at every size (ignore PEER_CAPS)")
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
    for tool in tools:
        if tool not in TOOLS:
            raise SystemExit(f"--tools: unknown {tool!r}; expected some of {','.join(TOOLS)}")
    todo = cases(args.quick)
    if args.problems:
        todo = select(todo, args.problems)
    started = time.perf_counter()
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, jax {jax.__version__}, scipy {scipy.__version__}")
    print(f"# command: {C.command_line()}")
    print(f"# load average (1 / 5 / 15 min) at the start: {C.load_average()}", flush=True)
    warm = Case("broyden-tridiagonal", 50)
    warm_f, warm_x = warm.build()  # compile/JIT warm-up for every tool (numba, XLA)
    for tool in tools:
        try:
            dispatch(tool, warm, warm_f, warm_x, 1)
        except Exception as err:  # noqa: BLE001 - reported again in the table
            print(f"# warm-up of {tool} failed: {type(err).__name__}", file=sys.stderr)
    header = ("| problem | layout | n | tool | method | colors | detect s | color s | prep s | eval ms "
              "| eval / (colors x JVP) | peak MB | max err | note |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    summary = []
    for case in todo:
        f, x = case.build()
        jvp_t = one_jvp_time(f, x, args.reps)
        res = {}
        lead = f"| {case.name} | {case.layout} | {x.size} | "
        for tool in tools:
            try:
                with PeakRSS() as mem:
                    r = dispatch(tool, case, f, x, args.reps, caps=not args.no_caps)
                r["peak"] = mem.mb
                r["err"] = probe_error(r.pop("J"), f, x)
                res[tool] = r
                per_product = r["eval"] / (r["colors"] * jvp_t) if tool != "scipy" else float("nan")
                print(f"{lead}{tool} | {r['method']} | {r['colors']} | {fmt(r['detect'])} | {fmt(r['color'])} | "
                      f"{fmt(r['prep'])} | {fmt(r['eval'] * 1e3)} | {fmt(per_product, 2)} | {fmt(r['peak'], 3)} | "
                      f"{fmt(r['err'], 2)} | {r['note']} |", flush=True)
            except ModelMismatch:
                print(f"{lead}{tool} | | MODEL MISMATCH | | | | | | | | see below |", flush=True)
                raise
            except Skipped as why:
                print(f"{lead}{tool} | | skipped | | | | | | | | {why} |", flush=True)
            except Exception as err:  # noqa: BLE001 - a failing peer is reported, not fatal
                msg = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
                print(f"{lead}{tool} | | failed | | | | | | | | {type(err).__name__}: {msg} |", flush=True)
        if "jacx" in res:
            a, b = res["jacx"], res.get("asdex")
            summary.append((case, x.size, a, b, a["eval"] / (a["colors"] * jvp_t)))
        del f, x, res
    if summary:
        print("\n| problem | layout | n | colors jacx / asdex | (detect+color) jacx/asdex | eval jacx/asdex "
              "| jacx eval / (colors x JVP) |")
        print("|---|---|---|---|---|---|---|")
        for case, n, a, b, per_product in summary:
            if b is None:
                print(f"| {case.name} | {case.layout} | {n} | {a['colors']} / - | - | - | {per_product:.2f} |")
                continue
            prep = ratio(a["detect"] + a["color"], b["detect"] + b["color"])
            print(f"| {case.name} | {case.layout} | {n} | {a['colors']} / {b['colors']} | {fmt(prep, 2)} | "
                  f"{fmt(ratio(a['eval'], b['eval']), 2)} | {per_product:.2f} |")
    print(f"\n# load average (1 / 5 / 15 min) at the end: {C.load_average()}; "
          f"{len(todo)} problems in {time.perf_counter() - started:.0f} s")
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


if __name__ == "__main__":
    raise SystemExit(main())
