"""Optimizers on jacx's sparse derivatives: a rocket by direct collocation, and least squares at n = 10^5.

Part 1, constrained optimization (``examples/optimal_control.py``: a planar rocket, trapezoidal collocation on N
intervals, 7 (N + 1) variables, 5 N + 9 equalities, N + 1 thrust limits). Every solver starts from the same
guess with tolerance 1e-8:

  jacx sparse + Ipopt          exact sparse Jacobian and Lagrangian Hessian (cyipopt; skipped if not installed)
  jacx sparse + trust-constr   the same derivatives handed to scipy.optimize.minimize(method="trust-constr")
  dense + trust-constr         exact dense derivatives (jacx.jacobian, jacx.hessian); SciPy then factorizes dense
                               matrices, so only where that finishes (N <= 100)
  SciPy FD + trust-constr      what SciPy does alone: 2-point finite differences for the gradient and the
                               constraint Jacobian (dense), BFGS updates for both Hessians; stopped at a time budget

Reported: iterations, wall time of the solve (the derivatives compiled and the sparsity prepared beforehand;
preparation reported apart), final objective, constraint violation, KKT residual (all checked with the sparse
derivatives). The exact-derivative solves are timed interleaved (``_common.time_interleaved``, one solve per
sample, median over rounds); the finite-difference solve, minutes long, once.

Part 2, least squares at n = 10^5 (Broyden tridiagonal, m = n, and extended Rosenbrock, m = n; both zero-residual
problems of Moré, Garbow and Hillstrom):

  jacx LM (JAX)        jacx.optimize.least_squares: sparse Jacobian (BCOO), normal equations by Jacobi-PCG
  SciPy trf + jacx     scipy.optimize.least_squares(method="trf", tr_solver="lsmr") given jacx's sparse Jacobian
  SciPy trf + FD       the same with SciPy's own finite differences, told the sparsity pattern (jac_sparsity)
  dense                jacx.jacobian's memory check: what a dense Jacobian would need (it is not built)

Run:  python benchmarks/bench_optimize.py [--quick] [--fd-budget SECONDS] [--out docs/benchmarks-optimize.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize as so

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import jacx  # noqa: E402
import jacx.sparse  # noqa: E402
from jacx.optimize import ConstrainedProblem, ipopt_available, least_squares  # noqa: E402
from jacx._memory import per_pass_bytes, plan_chunk  # noqa: E402
from jacx.optimize.problems import broyden_tridiagonal, extended_rosenbrock, rocket  # noqa: E402

_spec = importlib.util.spec_from_file_location("optimal_control", C.REPO_ROOT / "examples" / "optimal_control.py")
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

DENSE_MAX_N = 100  # intervals up to which the dense-derivative solve runs


# ---------------------------------------------------------------------------------------------- part 1
def control_rows(N: int, repeats: int, fd_budget_s: float) -> tuple[list[list[str]], str]:
    P = rocket(N)
    t0 = time.perf_counter()
    prob = ConstrainedProblem(P.objective, P.constraints, P.x0)
    prep = time.perf_counter() - t0
    note = (f"{P.name}: n = {P.n}, m = {P.m}; {prob}; sparsity detected and colored in {prep:.2f} s")
    runs: dict[str, tuple] = {}
    if ipopt_available():
        runs["jacx sparse + Ipopt"] = ("sparse", "ipopt", None)
    runs["jacx sparse + trust-constr"] = ("sparse", "trust-constr", None)
    if N <= DENSE_MAX_N:
        runs["dense + trust-constr"] = ("dense", "trust-constr", example.scipy_arguments(P, prob, "dense"))
    results: dict[str, dict] = {}

    def contestant(name: str):
        derivatives, solver, arguments = runs[name]

        def run() -> None:
            results[name] = example.solve(P, derivatives, solver, prepared=prob, arguments=arguments,
                                          time_budget_s=fd_budget_s)
        return run

    samples = C.time_interleaved({name: contestant(name) for name in runs}, repeats=repeats, target_s=0.0, warmup=1)
    fd_name = "SciPy FD + trust-constr"
    results[fd_name] = example.solve(P, "fd", "trust-constr", prepared=prob,
                                     arguments=example.scipy_arguments(P, prob, "fd"), time_budget_s=fd_budget_s)
    samples[fd_name] = [results[fd_name]["seconds"]]
    best = results.get("jacx sparse + Ipopt", results["jacx sparse + trust-constr"])
    rows = []
    for name, r in results.items():
        t = C.median(samples[name])
        rows.append([P.name, name, str(r["iterations"]), C.fmt_time(t) + ("" if len(samples[name]) > 1 else " (1 run)"),
                     "yes" if r["success"] else f"no (stopped at {C.fmt_time(r['seconds'])})",
                     f"{r['objective']:.8f}", f"{r['violation']:.1e}", f"{r['kkt']:.1e}",
                     f"{np.max(np.abs(r['x'] - best['x'])):.1e}"])
    if N > DENSE_MAX_N:
        rows.append([P.name, "dense + trust-constr", "-", "not run", f"dense factorizations of {P.m} x {P.n}",
                     "", "", "", ""])
    return rows, note


# ---------------------------------------------------------------------------------------------- part 2


def lsq_rows(n: int, repeats: int) -> tuple[list[list[str]], list[str]]:
    rows, notes = [], []
    problems = [("Broyden tridiagonal", broyden_tridiagonal, -np.ones(n)),
                ("extended Rosenbrock", extended_rosenbrock, np.tile([-1.2, 1.0], n // 2))]
    for name, F, x0 in problems:
        x0 = jnp.asarray(x0, jnp.float64)
        t0 = time.perf_counter()
        jac = jacx.sparse.jacobian(F, x0)
        prep = time.perf_counter() - t0
        F_np = jax.jit(F)
        pattern = jac.sparsity
        out: dict[str, object] = {}

        def jacx_lm() -> None:
            out["jacx LM (JAX)"] = least_squares(F, x0, jac=jac)

        def scipy_trf_jacx() -> None:
            out["SciPy trf + jacx sparse J"] = so.least_squares(
                lambda x: np.asarray(F_np(jnp.asarray(x))), np.asarray(x0), jac=lambda x: jac.to_scipy(jnp.asarray(x)),
                method="trf", tr_solver="lsmr", xtol=1e-12, ftol=1e-12, gtol=1e-10)

        def scipy_trf_fd() -> None:
            out["SciPy trf + FD (jac_sparsity)"] = so.least_squares(
                lambda x: np.asarray(F_np(jnp.asarray(x))), np.asarray(x0), jac="2-point", jac_sparsity=pattern,
                method="trf", tr_solver="lsmr", xtol=1e-12, ftol=1e-12, gtol=1e-10)

        contestants = {"jacx LM (JAX)": jacx_lm, "SciPy trf + jacx sparse J": scipy_trf_jacx,
                       "SciPy trf + FD (jac_sparsity)": scipy_trf_fd}
        samples = C.time_interleaved(contestants, repeats=repeats, target_s=0.0, warmup=1)
        for label, res in out.items():
            x = np.asarray(res.x)
            residual = float(np.max(np.abs(np.asarray(F_np(jnp.asarray(x))))))
            its = res.iterations if hasattr(res, "iterations") else res.njev
            ok = res.success if isinstance(res.success, bool) else bool(res.success)
            rows.append([f"{name}, n = {n:,}", label, str(its), C.fmt_time(C.median(samples[label])),
                         f"{C.spread(samples[label]) * 100:.0f}%" if len(samples[label]) >= 4 else "n/a",
                         "yes" if ok else "no", f"{residual:.1e}"])
        try:  # jacx.jacobian's own memory check, asked without building anything
            per_pass = per_pass_bytes(F, x0)[1]
            m = jax.eval_shape(F, x0).shape[0]
            plan_chunk(m, n, n, per_pass, 8, None, compiled=True)
            dense = f"{m} x {n} float64 ({m * n * 8 / 1e9:.0f} GB) would fit on this machine"
        except jacx.JacobianTooLargeError as err:
            dense = "jacx.jacobian refuses it: " + str(err).split(";")[0]
        rows.append([f"{name}, n = {n:,}", "dense Jacobian", "-", "not built", "", "", ""])
        notes.append(f"{name}: sparse Jacobian {jac.sparsity.nnz:,} nonzeros, {jac.n_colors} colors, prepared in "
                     f"{prep:.2f} s. Dense: {dense}.")
    return rows, notes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats, short budgets")
    parser.add_argument("--out", "-o", "--output", default="docs/benchmarks-optimize.md",
                        help="where to write the Markdown report")
    parser.add_argument("--fd-budget", type=float, default=None,
                        help="seconds each finite-difference solve may run (default 900; --quick: 60)")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    sizes = [50] if args.quick else [100, 400]
    repeats = 2 if args.quick else 5
    fd_budget = args.fd_budget if args.fd_budget is not None else (60.0 if args.quick else 900.0)
    n_lsq = 100_000
    load_before = C.load_average()
    foreign = C.ForeignLoad()

    out_lines = []
    rows, notes = [], []
    for N in sizes:
        r, note = control_rows(N, repeats, fd_budget)
        rows += r
        notes.append(note)
        print(note, flush=True)
    headers = ["problem", "derivatives + solver", "iterations", "solve time", "converged", "objective",
               "violation", "KKT", "max |x - x_best|"]
    out_lines += ["Optimal control (rocket): iterations and wall time per solve", "",
                  C.text_table(headers, rows), "", *notes, ""]
    print(out_lines[2], flush=True)  # the table

    lrows, lnotes = lsq_rows(n_lsq, repeats)
    lheaders = ["problem", "method", "iterations (Jacobians)", "solve time", "spread", "converged", "max |F(x)|"]
    ltable = C.text_table(lheaders, lrows)
    out_lines += ["Least squares at n = 10^5", "", ltable, "", *lnotes, ""]
    print(ltable, *lnotes, sep="\n", flush=True)

    load_after = C.load_average()
    others = foreign.cores()
    cores = C.usable_cores()
    # The load average at the end counts this script's own SciPy/XLA threads; what other processes used during the
    # run is measured directly (ForeignLoad) and decides instead.
    busy = C.load_1min(load_before) > cores or not others <= 0.25 * cores
    verdict = ("NO VERDICT: other work was running (1-minute load above the usable cores at the start, or other "
               "processes busy for more than a quarter of the cores); the times are not comparable." if busy else
               "The machine was otherwise idle: the times are comparable.")
    out_lines += [f"Load average before / after: {load_before} | {load_after} ({cores} usable cores; the end "
                  f"includes this script's own threads); other processes kept {others:.2f} cores busy on average "
                  f"during the run. {verdict}"]
    print(out_lines[-1])
    info = C.machine_info(["jax", "jaxlib", "numpy", "scipy", "cyipopt"],
                          {"load average (1/5/15 min) before": load_before, "after": load_after,
                           "cores kept busy by other processes": f"{others:.2f}"})
    C.write_report(args.out, "Optimizers on jacx's sparse derivatives", info, "\n".join(out_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
