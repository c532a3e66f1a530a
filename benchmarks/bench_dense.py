"""Dense Jacobians: jacx.jacobian (mode="auto") against jax.jacfwd / jax.jacrev and torch.func, in one run.

Problems
  MLP        F(x) = tanh(W2 tanh(W1 x)), hidden width 256, (n, m) in {(1000, 10), (10, 1000), (500, 500)}
  tutorial   F(x,y) = (x^2 + y, xy);  F(x,y,z) = (x^2 + yz, sin(xy), e^(x+z));  F(x,y) = (x^2 - y^2, 2xy)

Contestants (float32 on CPU, results checked against each other before timing)
  jacx.jacobian(f)(x)         as users call it: no jax.jit; jacx jits and caches behind the scenes
  jax.jit(jacx.jacobian(f))   jacx inside the user's own jit
  jax.jit(jax.jacfwd(f))      JAX forward mode, jitted
  jax.jit(jax.jacrev(f))      JAX reverse mode, jitted
  jax.jacfwd(f)(x)            JAX without jit (re-traces every call), tutorial problems only, for contrast
  torch.func.jacfwd / jacrev  PyTorch eager (no torch.compile), torch.set_num_threads = usable cores

Timing: warm-up (compilation) first, then ``repeats`` rounds; in each round every contestant is timed over a
calibrated batch of back-to-back calls (each one waits for its result: ``block_until_ready``), in an order
shuffled afresh every round, each fast contestant's batch preceded by a few untimed lead-in calls (see
``_common.time_interleaved``). Reported: the median per-call time over rounds, the +-% half inter-quartile
spread, and the ratio to the best jitted JAX mode, min(jit jacfwd, jit jacrev).

Run:  python benchmarks/bench_dense.py [--quick] [--out docs/benchmarks-dense.md]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import jacx  # noqa: E402

try:
    import torch
    import torch.func
except ImportError:  # torch is a benchmark-only extra
    torch = None

HIDDEN = 256
MLP_SHAPES = [(1000, 10), (10, 1000), (500, 500)]

JACX = "jacx.jacobian(f)(x)"
JIT_JACX = "jax.jit(jacx.jacobian(f))"
JIT_FWD = "jax.jit(jax.jacfwd(f))"
JIT_REV = "jax.jit(jax.jacrev(f))"
FWD = "jax.jacfwd(f)(x) (no jit)"
T_FWD = "torch.func.jacfwd"
T_REV = "torch.func.jacrev"

TARGET_A, TARGET_C, TARGET_D = 1.1, 1.2, 2.0


# --------------------------------------------------------------------------------------------------- problems
def mlp_problem(n: int, m: int) -> dict:
    rng = np.random.default_rng(n * 10_007 + m)
    W1 = (rng.standard_normal((HIDDEN, n)) / math.sqrt(n)).astype(np.float32)
    W2 = (rng.standard_normal((m, HIDDEN)) / math.sqrt(HIDDEN)).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    W1j, W2j = jnp.asarray(W1), jnp.asarray(W2)

    def f(v):
        return jnp.tanh(W2j @ jnp.tanh(W1j @ v))

    tf = None
    if torch is not None:
        W1t, W2t = torch.from_numpy(W1), torch.from_numpy(W2)

        def tf(v):
            return torch.tanh(W2t @ torch.tanh(W1t @ v))

    return {"name": f"MLP n={n}, m={m}", "f": f, "tf": tf, "x": x, "kind": "mlp"}


def _f1(v):
    return jnp.stack([v[0] ** 2 + v[1], v[0] * v[1]])


def _f2(v):
    return jnp.stack([v[0] ** 2 + v[1] * v[2], jnp.sin(v[0] * v[1]), jnp.exp(v[0] + v[2])])


def _f3(v):
    return jnp.stack([v[0] ** 2 - v[1] ** 2, 2 * v[0] * v[1]])


def _t1(v):
    return torch.stack([v[0] ** 2 + v[1], v[0] * v[1]])


def _t2(v):
    return torch.stack([v[0] ** 2 + v[1] * v[2], torch.sin(v[0] * v[1]), torch.exp(v[0] + v[2])])


def _t3(v):
    return torch.stack([v[0] ** 2 - v[1] ** 2, 2 * v[0] * v[1]])


TUTORIAL = [
    ("F(x,y) = (x^2 + y, xy)", _f1, _t1, [1.0, 2.0]),
    ("F(x,y,z) = (x^2 + yz, sin(xy), e^(x+z))", _f2, _t2, [1.0, 2.0, 0.5]),
    ("F(x,y) = (x^2 - y^2, 2xy)", _f3, _t3, [1.0, 2.0]),
]


def tutorial_problems() -> list[dict]:
    return [
        {"name": name, "f": f, "tf": tf if torch is not None else None, "x": np.asarray(p, np.float32), "kind": "tutorial"}
        for name, f, tf, p in TUTORIAL
    ]


# --------------------------------------------------------------------------------------------------- contestants
def contestants(problem: dict) -> dict[str, Callable[[], object]]:
    f, x = problem["f"], jnp.asarray(problem["x"])
    jit_jacx = jax.jit(jacx.jacobian(f))
    jit_fwd = jax.jit(jax.jacfwd(f))
    jit_rev = jax.jit(jax.jacrev(f))
    out: dict[str, Callable[[], object]] = {
        JACX: lambda: jacx.jacobian(f)(x).block_until_ready(),  # exactly the user's call, memo lookup included
        JIT_JACX: lambda: jit_jacx(x).block_until_ready(),
        JIT_FWD: lambda: jit_fwd(x).block_until_ready(),
        JIT_REV: lambda: jit_rev(x).block_until_ready(),
    }
    if problem["kind"] == "tutorial":
        out[FWD] = lambda: jax.jacfwd(f)(x).block_until_ready()
    if problem["tf"] is not None:
        xt = torch.from_numpy(problem["x"].copy())
        t_fwd, t_rev = torch.func.jacfwd(problem["tf"]), torch.func.jacrev(problem["tf"])
        out[T_FWD] = lambda: t_fwd(xt)
        out[T_REV] = lambda: t_rev(xt)
    return out


def check_agreement(name: str, fns: dict[str, Callable[[], object]]) -> None:
    ref = np.asarray(fns[JIT_FWD]())
    for label, fn in fns.items():
        got = fn()
        got = got.detach().numpy() if torch is not None and isinstance(got, torch.Tensor) else np.asarray(got)
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-4, atol=1e-5):
            err = np.max(np.abs(got - ref)) if got.shape == ref.shape else f"shape {got.shape} vs {ref.shape}"
            raise AssertionError(f"{name}: {label} disagrees with {JIT_FWD} (max abs diff {err})")


# --------------------------------------------------------------------------------------------------- report
def run(problems: list[dict], repeats: int, target_s: float) -> dict[str, dict[str, list[float]]]:
    results = {}
    for p in problems:
        fns = contestants(p)
        check_agreement(p["name"], fns)
        print(f"  timing {p['name']} ...", flush=True)
        results[p["name"]] = C.time_interleaved(fns, repeats=repeats, target_s=target_s)
    return results


def results_rows(results: dict[str, dict[str, list[float]]]) -> list[list[str]]:
    rows = []
    for prob, samples in results.items():
        best = min(C.median(samples[JIT_FWD]), C.median(samples[JIT_REV]))
        for label, xs in samples.items():
            med = C.median(xs)
            rows.append(
                [prob, label, C.fmt_time(med), f"±{C.spread(xs) * 100:.0f}%", f"{med / best:.2f}", C.fmt_time(min(xs))]
            )
    return rows


def target_rows(results: dict[str, dict[str, list[float]]]) -> list[list[str]]:
    """One row per target and problem: the ratio of medians (the verdict) and, as a noise check, of fastest rounds."""
    rows = []

    def add(target: str, prob: str, s: dict, num: str, den: tuple[str, ...], den_text: str, goal: float, strict: bool):
        ratio = {}
        for stat in (C.median, min):
            ratio[stat] = stat(s[num]) / min(stat(s[d]) for d in den)
        r = ratio[C.median]
        ok = r < goal if strict else r <= goal
        rows.append(
            [f"({target}) {prob}", f"{num} / {den_text}", f"{r:.2f}", f"{'<' if strict else '<='} {goal:g}",
             "yes" if ok else "**no**", f"{ratio[min]:.2f}"]
        )

    for prob, s in results.items():
        if prob.startswith("MLP"):
            for label in (JACX, JIT_JACX):
                add("a", prob, s, label, (JIT_FWD, JIT_REV), "best jit JAX", TARGET_A, False)
            if T_FWD in s:
                add("b", prob, s, JACX, (T_FWD, T_REV), "best torch.func", 1.0, True)
        else:
            add("c", prob, s, JIT_JACX, (JIT_FWD,), JIT_FWD, TARGET_C, False)
        add("d", prob, s, JACX, (JIT_FWD,), JIT_FWD, TARGET_D, False)
    return rows


RESULT_HEADERS = ["problem", "contestant", "median per call", "spread", "ratio to best jit JAX", "fastest round"]
TARGET_HEADERS = ["target", "measure", "ratio (medians)", "goal", "holds", "ratio (fastest rounds)"]


def write_markdown(
    path: Path, info: dict[str, str], res_rows, tgt_rows, quick: bool, repeats: int, busy: bool
) -> None:
    note = (
        "**Quick smoke run** (`--quick`): few repeats, numbers are indicative only."
        if quick
        else f"Medians of {repeats} interleaved rounds per problem, all contestants in the same run."
    )
    if busy:
        note += (
            "\n\n**Busy machine**: the load average exceeded the number of usable cores during this run (see the "
            "machine table), so these figures are preliminary; rerun on an idle machine before quoting them."
        )
    text = f"""# Dense Jacobian benchmark

Generated by `benchmarks/bench_dense.py`; do not edit by hand, rerun the command below instead.
{note}

What is compared (float32, CPU): `jacx.jacobian` with `mode="auto"` called the way users call it
(`jacx.jacobian(f)(x)`, no `jax.jit`: jacx compiles and caches behind the scenes) and inside `jax.jit`;
`jax.jit(jax.jacfwd(f))` and `jax.jit(jax.jacrev(f))`; `torch.func.jacfwd` / `torch.func.jacrev` in eager
PyTorch (no `torch.compile`, `torch.set_num_threads` = usable cores); and, for the small tutorial functions,
un-jitted `jax.jacfwd(f)(x)` for contrast. Each timed call waits for its result (`block_until_ready`); all
contestants' Jacobians are checked to agree before timing. Contestants are interleaved: every round times
each of them once, in a freshly shuffled order, and a few untimed lead-in calls precede each sample of a fast
contestant so that it does not pay for the switch from the previous one (eager PyTorch leaves its threads
spinning for a moment).
"Spread" is half the inter-quartile range over rounds, relative to the median: a noise gauge.
"Ratio to best jit JAX" divides by min(jit jacfwd, jit jacrev) for the same problem. "Fastest round" is the
minimum over rounds: on a busy machine it is closer to the undisturbed cost than the median, so the targets table
shows the ratio of fastest rounds next to the ratio of medians (the verdict uses the medians).

## Machine

{C.markdown_table(["item", "value"], [[k, f"`{v}`" if k == "command" else v] for k, v in info.items()])}

## Results

{C.markdown_table(RESULT_HEADERS, res_rows)}

## Targets

(a) jacx auto within 1.1x of the better jitted JAX mode; (b) un-jitted jacx faster than the better torch.func
mode; (c) tutorial functions: `jax.jit(jacx.jacobian(f))` within 1.2x of `jax.jit(jax.jacfwd(f))`;
(d) fast by default: un-jitted `jacx.jacobian(f)(x)` within 2x of `jax.jit(jax.jacfwd(f))(x)`.

{C.markdown_table(TARGET_HEADERS, tgt_rows)}
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run (few repeats, short samples)")
    ap.add_argument("--out", default=None, help="Markdown output (default: docs/benchmarks-dense.md in the repo)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds per problem (default 31; 5 quick)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 31)
    target_s = 0.005 if args.quick else 0.03
    out = Path(args.out) if args.out else C.REPO_ROOT / "docs" / "benchmarks-dense.md"

    cores = C.usable_cores()
    extra = {"JAX backend": f"{jax.default_backend()} ({jax.devices()[0].device_kind})"}
    if torch is not None:
        torch.set_num_threads(cores)
        extra["torch threads"] = str(torch.get_num_threads())
    else:
        print("torch is not installed: torch.func rows are skipped (pip install torch)", file=sys.stderr)
    load_before = C.load_average()

    problems = [mlp_problem(n, m) for n, m in MLP_SHAPES] + tutorial_problems()
    print(f"bench_dense: {len(problems)} problems, {repeats} rounds, ~{target_s * 1e3:.0f} ms samples", flush=True)
    results = run(problems, repeats, target_s)
    res_rows, tgt_rows = results_rows(results), target_rows(results)
    load_after = C.load_average()
    extra["load average 1/5/15 min (start; end)"] = f"{load_before}; {load_after}"
    busy = any(C.load_1min(text) > cores for text in (load_before, load_after))
    info = C.machine_info(["jax", "jaxlib", "torch", "numpy"], extra)

    print()
    print(C.text_table(RESULT_HEADERS, res_rows))
    print()
    print(C.text_table(TARGET_HEADERS, [[c.replace("**", "") for c in r] for r in tgt_rows]))
    write_markdown(out, info, res_rows, tgt_rows, args.quick, repeats, busy)
    print(f"\nwritten to {out.resolve().relative_to(C.REPO_ROOT) if out.resolve().is_relative_to(C.REPO_ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
