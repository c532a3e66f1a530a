"""Log-determinants and traces at scale: jacx's structured paths against the exact dense route, Hutch++ against
Hutchinson, and jacx's RealNVP against distrax and flowjax.

Sections
  structured  log|det J| of a 4-layer RealNVP (affine couplings, conditioner hidden width 256) on R^n,
              n in {64, 256, 1024, 4096}:
                jacx.logdet.logdet(flow)        structured path: each coupling declares [[I, 0], [*, D]], so each
                                                layer costs 2 JVPs and a sum of logs
                slogdet(jax.jacfwd(f)(x))       exact: n JVPs, then an O(n^3) LU
                hand-written sum of log-scales  what flow libraries do (for scale; it cannot catch a wrong formula)
              all jitted, float32; agreement checked in float64 against the exact value.
  trace       relative RMS error of Hutchinson and Hutch++ against the exact trace of a 1000 x 1000 PSD matrix
              with eigenvalues k^-2 (200 trials per budget), and the matvecs Hutch++ needs to match Hutchinson.
  peers       RealNVP forward-and-log-det on a batch of 1024 events in R^64 (4 couplings, MLP conditioners with
              two hidden layers of 64, ReLU): jacx.flows vs distrax vs flowjax (each where installed), jitted.

Timing: warm-up (compilation) first, then ``repeats`` rounds with the contestants interleaved in a shuffled order
(``_common.time_interleaved``); reported: the median per-call time and the +-% half inter-quartile spread.

Run:  python benchmarks/bench_logdet.py [--quick] [--section structured|trace|peers] [--out docs/benchmarks-logdet.md]
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

READING = """How to read these tables. All times are medians over interleaved rounds on the CPU, float32, after
compilation; the spread column is half the inter-quartile range relative to the median. The machine is shared, so
compare ratios within one run rather than absolute times across runs, and treat differences within about 15% as
ties. A load average above the number of cores (see the table) means other work was running: such figures are
preliminary.

* Structured vs exact: `jacx.logdet.logdet(flow)` walks the 4 coupling layers, measures each layer's diagonal
  with 2 JVPs (the pattern each coupling declares is triangular after a permutation) and sums logs;
  `slogdet(jacfwd)` builds the full n x n Jacobian (n JVPs) and factorises it; "hand-written" is the sum of the
  log-scales, which is what flow libraries compute. Agreement is the relative difference of the structured and
  the exact log|det| in float64 (and, for information, in float32).
* Trace estimators: relative root-mean-square error over independent trials against the exact trace. The last
  column interpolates Hutch++'s error curve (log-log) to find how many matvecs it needs for Hutchinson's error.
* Peers: the same architecture in each library (4 affine couplings on R^64, conditioners with two hidden layers
  of 64 and ReLU), forward and log-det of a batch of 1024 events, jitted."""


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
        agree32 = abs(float(structured(x)) - float(exact(x))) / abs(float(exact(x)))
        contestants = {
            "structured": lambda: structured(x).block_until_ready(),
            "exact": lambda: exact(x).block_until_ready(),
            "hand": lambda: hand(x).block_until_ready(),
        }
        reps = repeats if n < 4096 else max(3, repeats // 3)
        t = C.time_interleaved(contestants, repeats=reps, target_s=target_s if n < 4096 else 0.0, warmup=1)
        med = {k: C.median(v) for k, v in t.items()}
        speedup = med["exact"] / med["structured"]
        rows.append([
            str(n), C.fmt_time(med["structured"]), C.fmt_time(med["exact"]), C.fmt_time(med["hand"]),
            f"{speedup:.0f}x", f"{agree:.1e}", f"{agree32:.1e}",
            f"±{max(C.spread(t['structured']), C.spread(t['exact'])):.0%}",
        ])
        print(f"n={n}: structured {C.fmt_time(med['structured'])}, exact {C.fmt_time(med['exact'])}, "
              f"speed-up {speedup:.0f}x, rel. diff {agree:.1e} (float64) / {agree32:.1e} (float32); "
              f"path {path[:60]}...", flush=True)
        if n == 1024:
            tgt.append(["structured >= 100x faster than exact at n = 1024", f"{speedup:.0f}x",
                        "yes" if speedup >= TARGET_SPEEDUP else "NO"])
            tgt.append(["agreement to 1e-5 relative at n = 1024 (float64)", f"{agree:.1e}",
                        "yes" if agree <= TARGET_AGREE else "NO"])
    headers = ["n", "jacx structured", "slogdet(jacfwd)", "hand-written", "speed-up (exact / structured)",
               "rel. diff float64", "rel. diff float32", "spread"]
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
            "yes" if worst >= TARGET_HUTCHPP else "NO"]]
    headers = ["matvecs", "Hutchinson rel. RMS error", "Hutch++ rel. RMS error",
               "Hutchinson matvecs / Hutch++ matvecs at equal error"]
    return headers, rows, tgt


# ------------------------------------------------------------------------------------------------ peers
def bench_peers(repeats, target_s, batch=1024, n=64, layers=4, hidden=64):
    x = jax.random.normal(jax.random.key(0), (batch, n), jnp.float32)
    contestants, notes = {}, []
    keys = jax.random.split(jax.random.key(1), layers)
    half = n // 2
    masks = [tuple(j < half if i % 2 == 0 else j >= half for j in range(n)) for i in range(layers)]
    jx = Chain(tuple(
        _randomized(AffineCoupling.init(k, m, (hidden, hidden), activation="relu", zero_last=False), k, 0.3)
        for k, m in zip(keys, masks)
    ))
    f_jacx = jax.jit(jax.vmap(jx.forward_and_log_det))
    contestants["jacx.flows"] = lambda: jax.block_until_ready(f_jacx(x))
    try:
        import distrax

        def make_conditioner(k, m):
            k1, k2, k3 = jax.random.split(k, 3)
            w1 = jax.random.normal(k1, (n, hidden)) / np.sqrt(n)
            w2 = jax.random.normal(k2, (hidden, hidden)) / np.sqrt(hidden)
            w3 = 0.1 * jax.random.normal(k3, (hidden, 2 * n)) / np.sqrt(hidden)

            def cond(xm):
                h = jax.nn.relu(xm @ w1)
                h = jax.nn.relu(h @ w2)
                return h @ w3

            return cond

        def make_bij(params):
            shift, log_scale = jnp.split(params, 2, axis=-1)
            return distrax.ScalarAffine(shift=shift, log_scale=3.0 * jnp.tanh(log_scale / 3.0))

        dx = distrax.Chain([
            distrax.MaskedCoupling(mask=jnp.asarray(m), conditioner=make_conditioner(k, m), bijector=make_bij)
            for k, m in zip(keys, masks)
        ])
        f_dx = jax.jit(dx.forward_and_log_det)
        contestants["distrax"] = lambda: jax.block_until_ready(f_dx(x))
        notes.append(f"distrax {C._version('distrax')}: MaskedCoupling + ScalarAffine; its conditioner sees all "
                     "n entries (masked) and outputs 2n parameters, as distrax's API requires")
    except Exception as err:  # noqa: BLE001 - a peer that does not work here is reported, not fatal
        notes.append(f"distrax unavailable: {type(err).__name__}: {err}")
    try:
        import flowjax.bijections as fb

        fj = fb.Chain([
            fb.Coupling(k, transformer=fb.Affine(), untransformed_dim=half, dim=n, nn_width=hidden, nn_depth=2)
            for k in keys
        ])
        f_fj = jax.jit(jax.vmap(fj.transform_and_log_det))
        contestants["flowjax"] = lambda: jax.block_until_ready(f_fj(x))
        notes.append(f"flowjax {C._version('flowjax')}: Coupling with Affine transformer, vmapped over the batch "
                     "(no permutation between layers)")
    except Exception as err:  # noqa: BLE001
        notes.append(f"flowjax unavailable: {type(err).__name__}: {err}")
    t = C.time_interleaved(contestants, repeats=repeats, target_s=target_s)
    base = C.median(t["jacx.flows"])
    rows = [
        [name, C.fmt_time(C.median(v)), f"{C.median(v) / base:.2f}", f"±{C.spread(v):.0%}"] for name, v in t.items()
    ]
    return ["library", "forward_and_log_det per batch", "ratio to jacx", "spread"], rows, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds (smoke run)")
    ap.add_argument("--section", choices=["structured", "trace", "peers"], action="append")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--out", default=None, help="Markdown output (default: docs/benchmarks-logdet.md)")
    args = ap.parse_args(argv)
    sections = args.section or ["structured", "trace", "peers"]
    repeats = args.repeats or (5 if args.quick else 15)
    target_s = 0.005 if args.quick else 0.03
    parts, targets = [], []
    info = C.machine_info(["jax", "jaxlib", "numpy", "distrax", "flowjax"], {"load average (start)": C.load_average()})
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
    if "peers" in sections:
        h, rows, notes = bench_peers(repeats, target_s)
        parts.append("## RealNVP forward-and-log-det, batch 1024 in R^64\n\n" + C.markdown_table(h, rows)
                     + "\n\n" + "\n".join(f"* {s}" for s in notes))
        print(C.text_table(h, rows))
        print("\n".join(notes))
    info["load average (end)"] = C.load_average()
    text = "# Benchmarks: log-determinants, traces, flows\n\n"
    text += "Produced by `" + info["command"] + "`." + (" Quick (smoke) run." if args.quick else "") + "\n\n"
    text += C.markdown_table(["", ""], [[k, v] for k, v in info.items()]) + "\n\n"
    text += READING + "\n\n"
    text += "\n\n".join(parts) + "\n\n"
    if targets:
        text += "## Targets\n\n" + C.markdown_table(["target", "measured", "met"], targets) + "\n"
        print(C.text_table(["target", "measured", "met"], targets))
    out = Path(args.out) if args.out else C.REPO_ROOT / "docs" / "benchmarks-logdet.md"
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out.relative_to(C.REPO_ROOT) if out.is_relative_to(C.REPO_ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
