"""Sparse Hessian benchmark: jacx.sparse.hessian (star and acyclic coloring) against asdex and dense jax.hessian.

Run from the repository root:

    python benchmarks/bench_hessian.py            # full table: n = 10^4 for every problem, then n = 10^6
    python benchmarks/bench_hessian.py --quick    # small sizes, to check that everything runs (~1-2 min)
    python benchmarks/bench_hessian.py --no-million   # the n = 10^4 table only

Problems (``jacx.sparse._hessian_problems``, n about 10^4, ``--quick``: about 900): extended Rosenbrock (2 x 2
blocks), chained Rosenbrock (tridiagonal), a 2D and a 3D PDE energy (Dirichlet energy + u^4/4, 5- and 7-point
stencils), the Brusselator's 1/2 ||F(x)||^2 (J^T J + sum F_i H_i), an arrowhead, and an energy on an unstructured
Delaunay mesh.  Then the 3D PDE energy at n = 10^6 (7 nonzeros per row) is prepared and evaluated by jacx alone.

For every problem the table reports jacx's star and acyclic colors, what "auto" picked (coloring, colors, and
how the products are taken: forward-over-reverse or reverse-over-reverse), asdex's star coloring,
the largest row of the pattern (the fewest products a column coloring, which ignores symmetry, could use; not a
bound for symmetric colorings) and the forest lower bound (every acyclic or star coloring needs at least that
many colors); then the preparation time (detection + coloring, median of ``--reps`` fresh preparations) and the
evaluation time (median of interleaved samples via ``time_interleaved``) of jacx, asdex and ``jax.jit(
jax.hessian(f))`` (dense, up to n = ``DENSE_LIMIT``), and the largest difference of jacx's Hessian from asdex's
(float32). Verdicts (the 10x target against the dense Hessian, faster than asdex) are printed only when the
1-minute load average is below the number of usable cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jacx  # noqa: E402
import jacx.sparse as js  # noqa: E402
from jacx.sparse._hessian_problems import HESSIAN_PROBLEMS, pde_energy  # noqa: E402
from jacx.sparse._symmetric import forest_lower_bound, largest_row  # noqa: E402

DENSE_LIMIT = 20_000  # dense Hessians (n^2 floats) beyond this are not formed
OUT = "docs/benchmarks-hessian.md"


def block(a):
    return jax.block_until_ready(a.data if hasattr(a, "data") else a)


def prepare_jacx(f, x, method):
    jacx.clear_caches()  # no pattern or program answered from a cache
    t = time.perf_counter()
    h = js.hessian(f, x, method=method)
    return h, time.perf_counter() - t


def prepare_asdex(f, x):
    import asdex

    t = time.perf_counter()
    coloring = asdex.hessian_coloring(f, x)
    fn = jax.jit(asdex.hessian_from_coloring(f, coloring))  # compiled, like jacx's and the dense one
    return fn, coloring, time.perf_counter() - t


def run_problem(name, size, reps, rows):
    f, x = HESSIAN_PROBLEMS[name](size)
    n = int(x.size)
    star = js.hessian(f, x, method="star")
    acyc = js.hessian(f, x, method="acyclic")
    preps = [prepare_jacx(f, x, "auto") for _ in range(reps)]
    hess, prep = preps[-1][0], statistics.median(p[1] for p in preps)
    contestants = {"jacx": lambda: block(hess(x))}
    try:
        import asdex  # noqa: F401

        a_preps = [prepare_asdex(f, x) for _ in range(reps)]
        afn, acol, a_prep = a_preps[-1][0], a_preps[-1][1], statistics.median(p[2] for p in a_preps)
        a_colors = int(acol.num_colors)
        contestants["asdex"] = lambda: block(afn(x))
        diff = float(np.abs(np.asarray(afn(x).todense()) - np.asarray(hess(x).todense())).max())
    except Exception as err:  # noqa: BLE001 - a failing peer is reported, not fatal
        a_colors, a_prep, diff = f"failed ({type(err).__name__})", float("nan"), float("nan")
    if n <= DENSE_LIMIT:
        dense = jax.jit(jax.hessian(f))
        contestants["jax.hessian"] = lambda: block(dense(x))
    samples = C.time_interleaved(contestants, repeats=max(reps, 3), target_s=0.3, warmup=1)
    ev = {k: C.median(v) for k, v in samples.items()}
    rows.append([name, n, hess.sparsity.nnz, star.n_colors, acyc.n_colors, f"{hess.method} {hess.n_colors} {_SHORT[hess.hvp]}", a_colors,
                 largest_row(hess.sparsity), forest_lower_bound(hess.sparsity), C.fmt_time(prep),
                 C.fmt_time(a_prep), C.fmt_time(ev["jacx"]), C.fmt_time(ev.get("asdex", float("nan"))),
                 C.fmt_time(ev.get("jax.hessian", float("nan"))),
                 f"{ev['jax.hessian'] / ev['jacx']:.0f}x" if "jax.hessian" in ev else "-",
                 f"{ev['asdex'] / ev['jacx']:.1f}x" if "asdex" in ev else "-", f"{diff:.1e}"])
    print(C.text_table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    return ev


_SHORT = {"forward-over-reverse": "fwd/rev", "reverse-over-reverse": "rev/rev"}
HEADERS = ["problem", "n", "nnz", "star", "acyclic", "auto", "asdex star", "largest row", "forest bound",
           "prep jacx", "prep asdex", "eval jacx", "eval asdex", "eval jax.hessian", "jax.hessian / jacx",
           "asdex / jacx", "max |jacx - asdex|"]


def million(rows):
    f, x = pde_energy(100, dim=3)
    t = time.perf_counter()
    hess = js.hessian(f, x)
    prep = time.perf_counter() - t
    block(hess(x))
    samples = C.time_interleaved({"jacx": lambda: block(hess(x))}, repeats=3, target_s=1.0, warmup=1)
    p = hess.preparation
    rows.append(["pde-3d", x.size, hess.sparsity.nnz, hess.method, hess.n_colors, C.fmt_time(p["detection"]),
                 C.fmt_time(p["coloring"]), C.fmt_time(prep), C.fmt_time(C.median(samples["jacx"]))])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (n about 900), no n = 10^6 case")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    ap.add_argument("--no-million", action="store_true", help="skip the n = 10^6 case")
    ap.add_argument("--out", default="", help=f"write the tables to this Markdown file (full runs: {OUT})")
    args = ap.parse_args(argv)
    size = 900 if args.quick else 10_000
    info = C.machine_info(["jax", "jaxlib", "numpy", "scipy", "asdex"])
    load0 = C.load_average()
    print(f"# {info['CPU']}, cores {info['cores (usable / logical)']}; load average at the start: {load0}")
    warm_f, warm_x = HESSIAN_PROBLEMS["chained-rosenbrock"](50)
    block(js.hessian(warm_f, warm_x)(warm_x))
    rows = []
    print(C.text_table(HEADERS, []), flush=True)
    evs = {name: run_problem(name, size, args.reps, rows) for name in HESSIAN_PROBLEMS}
    body = C.text_table(HEADERS, rows)
    if not (args.quick or args.no_million):
        big = []
        million(big)
        heads = ["problem", "n", "nnz", "method", "colors", "detection", "coloring", "prep total", "eval"]
        body += "\n\nn = 10^6 (jacx only):\n" + C.text_table(heads, big)
    load1 = C.load_average()
    verdicts = []
    if max(C.load_1min(load0), C.load_1min(load1)) < C.usable_cores():
        for name, ev in evs.items():
            if "jax.hessian" in ev:
                verdicts.append(f"{name}: {'meets' if ev['jax.hessian'] >= 10 * ev['jacx'] else 'misses'} the 10x "
                                "target against jax.hessian")
            if "asdex" in ev:
                verdicts.append(f"{name}: {'faster' if ev['jacx'] < ev['asdex'] else 'slower'} than asdex")
    else:
        verdicts.append("no verdicts: the load average exceeded the usable cores during the run")
    body += "\n\n" + "\n".join(verdicts) + f"\n\nload average (1 / 5 / 15 min): start {load0}, end {load1}"
    print("\n" + body)
    out = args.out or ("" if args.quick else OUT)
    if out:
        info["load average (start / end)"] = f"{load0} ; {load1}"
        C.write_report(out, "Sparse Hessian benchmark", info, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
