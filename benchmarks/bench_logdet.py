"""Log-determinants and traces at scale: jacx's structured paths against the hand-written formula and the exact
dense route, the public API against the same computation under the user's own jax.jit, and Hutch++ against
Hutchinson.  (Flows against distrax and flowjax: benchmarks/bench_flows.py.)

Sections
  structured  log|det J| of a 4-layer RealNVP (affine couplings, conditioner hidden width 256) on R^n,
              n in {64, 256, 1024, 4096}:
                jax.jit(jacx.logdet.logdet(flow))  structured path: each coupling declares [[I, 0], [*, D]]; its
                                                diagonal is measured in the same pass as its output
                hand-written sum of log-scales  what flow libraries compute (the minimum work; it cannot catch a
                                                wrong formula)
                slogdet(jax.jacfwd(f)(x))       exact: n JVPs, then an O(n^3) LU
                jacx.logdet.logdet(flow)(x)     the public API without the user's jit (jacx compiles behind the
                                                scenes; measured after its warm-up calls)
              float32; agreement checked in float64 against the exact value.
  trace       relative RMS error of Hutchinson and Hutch++ against the exact trace of a 1000 x 1000 PSD matrix
              with eigenvalues k^-2 (200 trials per budget), and the matvecs Hutch++ needs to match Hutchinson.

Timing: warm-up (compilation) first, then ``repeats`` rounds with the contestants interleaved in a shuffled order
(``_common.time_interleaved``); reported: the median per-call time and the +-% half inter-quartile spread.

The load average is recorded at the start and at the end; when it exceeds the usable cores, the tables are written
but the targets get no verdict (a busy machine slows the wide, multi-threaded exact route far more than the others).

Run:  python benchmarks/bench_logdet.py [--quick] [--section structured|trace] [--out docs/benchmarks-logdet.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import jacx.logdet as ld  # noqa: E402
from jacx.flows import AffineCoupling, Chain  # noqa: E402

TARGET_SPEEDUP, TARGET_AGREE, TARGET_HUTCHPP = 100.0, 1e-5, 3.0
TARGET_HAND, TARGET_API = 1.3, 1.5  # structured / hand-written; public API / user's jit (at most)

READING = """How to read these tables. All times are medians over interleaved rounds on the CPU, float32, after
compilation; the spread column is half the inter-quartile range relative to the median. The machine is shared, so
compare ratios within one run rather than absolute times across runs, and treat differences within about 15% as
ties. A load average above the number of cores (see the table) means other work was running: such figures are
preliminary.

* Structured vs hand-written vs exact: `jacx.logdet.logdet(flow)` walks the 4 coupling layers; each declares its
  pattern (triangular after a permutation), and its diagonal is measured in the same pass that computes the
  layer's output, with the probe columns the conditioner never reads dropped and only the tangent entries that
  reach the diagonal computed. "hand-written" is the sum of the log-scales, which is what flow libraries compute.
  "work" is XLA's own count of floating-point operations and bytes accessed by the compiled structured call over
  the hand-written one: it does not depend on the load. `slogdet(jacfwd)` builds the full n x n Jacobian (n JVPs)
  and factorises it; it is timed in rounds of its own (the other four are interleaved with each other), since
  half a second of all cores busy before each sample of a millisecond-long call would distort that call. "public API" calls `jacx.logdet.logdet(flow)(x)` without a `jax.jit` of one's own, after its
  warm-up calls. Agreement is the
  relative difference of the structured and the exact log|det| in float64 (and, for information, in float32).
* Trace estimators: relative root-mean-square error over independent trials against the exact trace. The last
  column interpolates Hutch++'s error curve (log-log) to find how many matvecs it needs for Hutchinson's error.
* Flows against distrax and flowjax: see docs/benchmarks-flows.md (benchmarks/bench_flows.py)."""


def _randomized(tree, key, scale):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    keys = jax.random.split(key, len(leaves))
    new = [
        scale * jax.random.normal(k, jnp.shape(a), jnp.result_type(a)) / np.sqrt(max(np.shape(a)[-1:] or [1]))
        for k, a in zip(keys, leaves)
    ]
    return jax.tree_util.tree_unflatten(treedef, new)


def coupling_flow(n: int, dtype, layers: int = 4, hidden: int = 256) -> Chain:
    keys = jax.random.split(jax.random.key(n), layers)
    bijs = []
    for i, k in enumerate(keys):
        mask = tuple(bool((j + i) % 2) for j in range(n))
        b = AffineCoupling.init(k, mask, (hidden,), activation="tanh", zero_last=False, dtype=dtype)
        bijs.append(_randomized(b, k, 0.5))
    return Chain(tuple(bijs))


# ------------------------------------------------------------------------------------------------ structured
def _cost(jitted, x) -> tuple[float, float]:
    """XLA's cost analysis of the compiled call: (flops, bytes accessed)."""
    ca = jitted.lower(x).compile().cost_analysis()
    ca = ca[0] if isinstance(ca, list) else ca
    return float(ca.get("flops", float("nan"))), float(ca.get("bytes accessed", float("nan")))


def bench_structured(sizes, repeats, target_s):
    rows, tgt = [], []
    for n in sizes:
        with jax.enable_x64(True):
            f64 = coupling_flow(n, jnp.float64)
            x64 = jax.random.normal(jax.random.key(1), (n,), jnp.float64)
            exact64 = float(jax.jit(lambda x: jnp.linalg.slogdet(jax.jacfwd(f64.forward)(x))[1])(x64))
            r = ld.logdet(f64)(x64)
            struct64, path = float(r.logabsdet), r.path
            agree = abs(struct64 - exact64) / abs(exact64)
        flow = coupling_flow(n, jnp.float32)
        x = jax.random.normal(jax.random.key(1), (n,), jnp.float32)
        structured = jax.jit(lambda x: ld.logdet(flow)(x).logabsdet)
        exact = jax.jit(lambda x: jnp.linalg.slogdet(jax.jacfwd(flow.forward)(x))[1])
        hand = jax.jit(flow.forward_log_det_jacobian)
        public = ld.logdet(flow)
        user_jit = jax.jit(lambda x: ld.logdet(flow)(x))
        for _ in range(300):  # the public API's warm-up: after its first calls jacx compiles the state in
            public(x)
        agree32 = abs(float(structured(x)) - float(exact(x))) / abs(float(exact(x)))
        work = [_cost(structured, x), _cost(hand, x)]  # XLA's own count: independent of the machine's load
        contestants = {
            "structured": lambda: structured(x).block_until_ready(),
            "hand": lambda: hand(x).block_until_ready(),
            "public": lambda: jax.block_until_ready(public(x)),
            "user_jit": lambda: jax.block_until_ready(user_jit(x)),
        }
        # The fast contestants are interleaved among themselves; the exact route (up to ~0.5 s a call, a wide
        # multi-threaded LU) is timed on its own: interleaved with it, each millisecond-long sample of the others
        # would follow half a second of all cores busy and a flushed cache (at n = 4096 that gave single-call
        # samples and ratios that moved by 0.2 between runs).
        t = C.time_interleaved(contestants, repeats=repeats, target_s=target_s, warmup=1)
        big = n >= 4096
        t.update(C.time_interleaved({"exact": lambda: exact(x).block_until_ready()},
                                    repeats=max(3, repeats // 3) if big else repeats,
                                    target_s=0.0 if big else target_s, warmup=1))
        med = {k: C.median(v) for k, v in t.items()}
        speedup = med["exact"] / med["structured"]
        over_hand = med["structured"] / med["hand"]
        over_jit = med["public"] / med["user_jit"]
        rows.append([
            str(n), C.fmt_time(med["structured"]), C.fmt_time(med["hand"]), f"{over_hand:.2f}",
            f"{work[0][0] / work[1][0]:.3f} / {work[0][1] / work[1][1]:.3f}",
            C.fmt_time(med["exact"]), f"{speedup:.0f}x", C.fmt_time(med["public"]), C.fmt_time(med["user_jit"]),
            f"{over_jit:.2f}", f"{agree:.1e}", f"{agree32:.1e}",
            f"±{max(C.spread(t['structured']), C.spread(t['hand'])):.0%}",
        ])
        print(f"n={n}: structured {C.fmt_time(med['structured'])}, hand-written {C.fmt_time(med['hand'])} "
              f"({over_hand:.2f}x), exact {C.fmt_time(med['exact'])} (speed-up {speedup:.0f}x), public API "
              f"{C.fmt_time(med['public'])} vs user jit {C.fmt_time(med['user_jit'])} ({over_jit:.2f}x), rel. diff "
              f"{agree:.1e} (float64) / {agree32:.1e} (float32); path {path[:60]}...", flush=True)
        tgt.append([f"structured within {TARGET_HAND}x of the hand-written formula at n = {n}", f"{over_hand:.2f}x",
                    over_hand <= TARGET_HAND, True])
        tgt.append([f"public API within {TARGET_API}x of the user's jax.jit at n = {n}", f"{over_jit:.2f}x",
                    over_jit <= TARGET_API, True])
        if n == 1024:
            tgt.append(["structured >= 100x faster than exact at n = 1024", f"{speedup:.0f}x",
                        speedup >= TARGET_SPEEDUP, True])
            tgt.append(["agreement to 1e-5 relative at n = 1024 (float64)", f"{agree:.1e}", agree <= TARGET_AGREE, False])
    headers = ["n", "jacx structured (jit)", "hand-written", "structured / hand",
               "work structured / hand (flops / bytes)", "slogdet(jacfwd)",
               "speed-up (exact / structured)", "public API", "user's jit", "public / jit", "rel. diff float64",
               "rel. diff float32", "spread"]
    return headers, rows, tgt


# ------------------------------------------------------------------------------------------------ trace
def bench_trace(trials, budgets):
    n = 1000
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    eig = 1.0 / np.arange(1, n + 1) ** 2
    a = jnp.asarray((q * eig) @ q.T, jnp.float32)
    exact = float(eig.sum())
    keys = jax.random.split(jax.random.key(0), trials)

    def rel_rms(estimator, m):
        values = jax.jit(jax.vmap(lambda k: estimator(a, k, m).value))(keys)
        return float(jnp.sqrt(jnp.mean((values - exact) ** 2))) / exact

    err_h = [rel_rms(ld.hutchinson, m) for m in budgets]
    pp_budgets = sorted(set([3, 6, 9] + list(budgets)))
    err_pp_all = {m: rel_rms(ld.hutchpp, m) for m in pp_budgets}
    rows = [[str(m), f"{eh:.2e}", f"{err_pp_all[m]:.2e}"] for m, eh in zip(budgets, err_h)]
    # matvecs Hutch++ needs to reach Hutchinson's error at each budget: log-log interpolation of Hutch++'s curve
    # (its error falls monotonically with the budget); outside the measured range only a bound is known.
    lb = np.log(np.asarray(pp_budgets, float))
    lp = np.log(np.asarray([err_pp_all[m] for m in pp_budgets]))
    ratios = []
    for row, m, eh in zip(rows, budgets, err_h):
        le = np.log(eh)
        if le >= lp[0]:  # Hutch++ with the smallest budget is already as good
            ratios.append(m / pp_budgets[0])
            row.append(f">= {m / pp_budgets[0]:.0f}x")
        elif le < lp.min():
            ratios.append(float("nan"))
            row.append("n/a")
        else:
            need = float(np.exp(np.interp(-le, -lp, lb)))
            ratios.append(m / need)
            row.append(f"{m / need:.1f}x")
    finite = [r for r in ratios if r == r]
    worst = min(finite) if finite else float("nan")
    tgt = [["Hutch++ reaches Hutchinson's error with >= 3x fewer matvecs (worst budget)", f"{worst:.1f}x",
            worst >= TARGET_HUTCHPP, False]]
    headers = ["matvecs", "Hutchinson rel. RMS error", "Hutch++ rel. RMS error",
               "Hutchinson matvecs / Hutch++ matvecs at equal error"]
    return headers, rows, tgt


def write_report(out: Path, title: str, info: dict, start: str, quick: bool, reading: str, parts: list,
                 targets: list) -> None:
    """Write the Markdown report with the load at the start and now; ``targets`` are ``[name, measured, met,
    timed]``: timed ones get no verdict when the load exceeded the usable cores (accuracy ones always do)."""
    end = C.load_average()
    info["load average (end)"] = end
    cores = C.usable_cores()
    loaded = max(C.load_1min(start), C.load_1min(end)) > cores
    text = f"# {title}\n\n"
    text += "Produced by `" + info["command"] + "`." + (" Quick (smoke) run." if quick else "") + "\n\n"
    text += C.markdown_table(["", ""], [[k, v] for k, v in info.items()]) + "\n\n"
    text += reading + "\n\n"
    text += "\n\n".join(parts) + "\n\n"
    if targets:
        rows = [[name, measured, "no verdict (load)" if timed and loaded else ("yes" if met else "NO")]
                for name, measured, met, timed in targets]
        text += "## Targets\n\n"
        if loaded:
            text += (f"The load average ({start} at the start, {end} at the end) exceeded the {cores} usable cores: "
                     "other work was running, so the timing targets get no verdict from this run.\n\n")
            print(f"no verdict on timings: load {start} -> {end} exceeds {cores} cores")
        text += C.markdown_table(["target", "measured", "met"], rows) + "\n"
        print(C.text_table(["target", "measured", "met"], rows))
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out.relative_to(C.REPO_ROOT) if out.is_relative_to(C.REPO_ROOT) else out}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds (smoke run)")
    ap.add_argument("--section", choices=["structured", "trace"], action="append")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--out", default=None, help="Markdown output (default: docs/benchmarks-logdet.md)")
    args = ap.parse_args(argv)
    sections = args.section or ["structured", "trace"]
    repeats = args.repeats or (5 if args.quick else 15)
    target_s = 0.005 if args.quick else 0.03
    parts, targets = [], []
    start = C.load_average()
    info = C.machine_info(["jax", "jaxlib", "numpy"], {"load average (start)": start})
    if "structured" in sections:
        sizes = [64, 256, 1024] if args.quick else [64, 256, 1024, 4096]
        h, rows, tgt = bench_structured(sizes, repeats, target_s)
        parts.append("## Structured vs exact log-determinant (4-layer RealNVP)\n\n" + C.markdown_table(h, rows))
        print(C.text_table(h, rows))
        targets += tgt
    if "trace" in sections:
        trials = 50 if args.quick else 200
        budgets = [12, 24, 48, 96, 192, 384]
        h, rows, tgt = bench_trace(trials, budgets)
        parts.append(f"## Trace estimators on a 1000 x 1000 matrix with eigenvalues k^-2 ({trials} trials)\n\n"
                     + C.markdown_table(h, rows))
        print(C.text_table(h, rows))
        targets += tgt
    out = Path(args.out) if args.out else C.REPO_ROOT / "docs" / "benchmarks-logdet.md"
    write_report(out, "Benchmarks: log-determinants and traces", info, start, args.quick, READING, parts, targets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
