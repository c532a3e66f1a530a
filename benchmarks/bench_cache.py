"""jacx's compile cache: the guarded fast path of pure functions, and the cost of the state check otherwise.

jacx compiles un-jitted calls itself (``src/jacx/_autojit.py``). A function that provably reads only immutable
state (JAX arrays, numbers, functions, library modules) takes a guarded fast path: identity checks, then the
compiled program. A function that reads mutable state (a dict of parameters, an object's attributes), or whose
guard failed (a global weight was rebound), is re-traced with ``jax.make_jaxpr`` on every call, and the compiled
program is reused by the trace's structure with the constants passed as arguments. This script measures both.

Sections
  1. pure      tutorial functions (F(v) = (v0^2 + v1, v0 v1); polar map; 3x3 tanh layer with a global weight
               that never changes): jacx.jacobian(f) built once, jacx.jacobian(f)(x) rebuilt every call,
               jax.jit(jax.jacfwd(f)), eager jax.jacfwd(f). Goal: un-jitted jacx within 2x of the jit.
  2. state     3x3 layer, MLP 256->256->256, 500x500 layer; f reads (a) a params dict updated every call,
               (b) a global weight rebound every call, (c) an attribute of an object (bound method, attribute
               rebound every call), (d) a params dict that is not changed, (g) a global that is not changed (the
               guarded fast path, for reference). Contestants: jacx.jacobian(f)(x), eager jax.jacfwd(f)(x),
               jax.jit(jax.jacfwd(f))(x) (stale whenever the state changes: a reference for speed only),
               jax.jit(jax.jacfwd(g))(x, state) with the state passed as an argument (the fix jacx's warning
               suggests; never stale), one eager evaluation f(x), one trace jax.make_jaxpr (through a fresh
               lambda, so JAX's trace cache cannot answer), and the state update alone. The check's cost is
               jacx minus jit (both include the update); goal: at most about one evaluation of f or one trace
               (<= 1.5x the larger of the two, in practice the trace).
  3. factory   50 closures of one make_model(W) factory, each called 21 times: jacx vs jax.jit(jax.jacfwd)
               per model (which compiles each).
  4. logdet    jacx.logdet.logdet(b)(x) vs jax.jit(lambda x: jacx.logdet.logdet(b)(x)) for a RealNVP (n=8).

Timing of sections 1, 2 and 4: warm-up, then ``repeats`` interleaved rounds (``_common.time_interleaved``);
medians per call. Section 3 is a one-shot measurement (first calls compile), repeated a few times,
alternating jacx and jit, with jacx's caches cleared before each of its rounds.

A run whose 1-minute load average (start or end) exceeds the usable cores is not judged and writes no Markdown
table (exit status 3; ``--allow-busy`` writes it anyway, marked preliminary and without verdicts).

Run:  python benchmarks/bench_cache.py [--quick] [--out docs/benchmarks-cache.md] [--allow-busy]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import jacx  # noqa: E402
import jacx.logdet  # noqa: E402
from jacx.flows import realnvp  # noqa: E402

JACX_ONCE = "jacx.jacobian(f), built once"
JACX = "jacx.jacobian(f)(x)"
JIT = "jax.jit(jax.jacfwd(f))"
JIT_ARGS = "jax.jit(jax.jacfwd(g))(x, state)"
FWD = "jax.jacfwd(f)(x) (no jit)"
EVAL = "f(x), one eager evaluation"
TRACE = "jax.make_jaxpr(f)(x), one trace"
UPDATE = "state update alone"

WARMUP = 12  # calls before calibration: past jacx's first compile and its bake of a reused state (call 8)
PURE_GOAL = 2.0  # un-jitted jacx within 2x of jax.jit(jax.jacfwd(f))
CHECK_GOAL = 1.5  # the state check costs at most about one evaluation or one re-trace: <= 1.5x the larger
FACTORY_MODELS, FACTORY_CALLS = 50, 21


# --------------------------------------------------------------------------------------------------- section 1
def _tutorial(v):
    return jnp.stack([v[0] ** 2 + v[1], v[0] * v[1]])


def _polar(v):
    return jnp.stack([v[0] * jnp.cos(v[1]), v[0] * jnp.sin(v[1])])


W_PURE = jnp.asarray(np.random.default_rng(3).standard_normal((3, 3)).astype(np.float32))  # never rebound


def _tanh_layer_pure(v):
    return jnp.tanh(W_PURE @ v)


PURE = [
    ("F(v) = (v0^2 + v1, v0 v1)", _tutorial, [1.0, 2.0]),
    ("polar (r cos t, r sin t)", _polar, [2.0, 0.5]),
    ("tanh(W x), 3x3 global W (unchanged)", _tanh_layer_pure, [0.1, -0.2, 0.3]),
]


def pure_contestants(f: Callable, x: jax.Array) -> dict[str, Callable[[], object]]:
    once = jacx.jacobian(f)
    jit = jax.jit(jax.jacfwd(f))
    return {
        JACX_ONCE: lambda: once(x).block_until_ready(),
        JACX: lambda: jacx.jacobian(f)(x).block_until_ready(),  # users write this in loops: memo lookup included
        JIT: lambda: jit(x).block_until_ready(),
        FWD: lambda: jax.jacfwd(f)(x).block_until_ready(),
    }


# --------------------------------------------------------------------------------------------------- section 2
def layer(v, W):
    return jnp.tanh(W @ v)


def mlp(v, W, b1, W2, b2):
    return jnp.tanh(W2 @ jnp.tanh(W @ v + b1) + b2)


def _weights(kind: str) -> tuple[dict[str, jax.Array], jax.Array]:
    rng = np.random.default_rng({"small": 1, "mlp": 2, "large": 3}[kind])
    f32 = lambda a: jnp.asarray(a.astype(np.float32))  # noqa: E731
    if kind == "mlp":
        n = 256
        w = {"W": f32(rng.standard_normal((n, n)) / math.sqrt(n)), "b1": f32(rng.standard_normal(n) * 0.1),
             "W2": f32(rng.standard_normal((n, n)) / math.sqrt(n)), "b2": f32(rng.standard_normal(n) * 0.1)}
    else:
        n = 3 if kind == "small" else 500
        w = {"W": f32(rng.standard_normal((n, n)) / math.sqrt(n))}
    return w, f32(rng.standard_normal(n))


# Globals read by the (b) and (g) functions; the benchmark rebinds the "W" of each between calls in (b).
G_small_W = G_large_W = G_mlp_W = G_mlp_b1 = G_mlp_W2 = G_mlp_b2 = None


def small_global(v):
    return layer(v, G_small_W)


def large_global(v):
    return layer(v, G_large_W)


def mlp_global(v):
    return mlp(v, G_mlp_W, G_mlp_b1, G_mlp_W2, G_mlp_b2)


GLOBAL_FN = {"small": (small_global, "G_small_W"), "large": (large_global, "G_large_W"), "mlp": (mlp_global, "G_mlp_W")}
APPLY = {"small": layer, "large": layer, "mlp": mlp}
STATE_PROBLEMS = [("small", "3x3 tanh layer"), ("mlp", "MLP 256->256->256"), ("large", "500x500 tanh layer")]
SCENARIOS = [
    ("a", "params dict, updated every call", True),
    ("b", "global W rebound every call", True),
    ("c", "object attribute (bound method), rebound every call", True),
    ("d", "params dict, not changed", False),
    ("g", "global W, not changed (guarded fast path)", False),
]


class Model:
    """Holds its weights as attributes; ``forward`` is the bound method users differentiate."""

    def __init__(self, apply: Callable, weights: dict[str, jax.Array]) -> None:
        self.apply = apply
        self.names = tuple(weights)
        for k, v in weights.items():
            setattr(self, k, v)

    def forward(self, v):
        return self.apply(v, **{k: getattr(self, k) for k in self.names})


def state_case(kind: str, scenario: str) -> tuple[Callable, Callable[[], jax.Array] | None, Callable[[], dict], jax.Array]:
    """f; the state update done before each call (None when the state does not change); a function returning the
    current state as a dict of arrays (for the contestant that passes it as an argument); and x."""
    weights, x = _weights(kind)
    apply = APPLY[kind]
    if scenario in ("a", "d"):
        params = dict(weights)

        def f(v):
            return apply(v, **params)

        def update():
            params["W"] = params["W"] + 0.0  # a new array every call, as a training step makes
            return params["W"]

        def current():
            return params

    elif scenario in ("b", "g"):
        f, gname = GLOBAL_FN[kind]
        for k, v in weights.items():
            globals()[f"G_{kind}_{k}"] = v

        def update():
            globals()[gname] = globals()[gname] + 0.0
            return globals()[gname]

        def current():
            return {k: globals()[f"G_{kind}_{k}"] for k in weights}

    else:
        model = Model(apply, weights)
        f = model.forward

        def update():
            model.W = model.W + 0.0
            return model.W

        def current():
            return {k: getattr(model, k) for k in model.names}

    return f, (update if scenario in ("a", "b", "c") else None), current, x


def state_contestants(f: Callable, update: Callable[[], jax.Array] | None, current: Callable[[], dict], apply: Callable,
                      x: jax.Array) -> dict[str, Callable[[], object]]:
    jit = jax.jit(jax.jacfwd(f))  # traced once: stale after an update (reference for speed only)
    jit_args = jax.jit(jax.jacfwd(lambda v, state: apply(v, **state)))  # the state as an argument: never stale
    def up():  # the update finishes before the timed call starts, for every contestant alike
        if update is not None:
            jax.block_until_ready(update())

    def jacx_call():
        up()
        return jacx.jacobian(f)(x).block_until_ready()

    def jit_call():
        up()
        return jit(x).block_until_ready()

    def jit_args_call():
        up()
        return jit_args(x, current()).block_until_ready()

    def fwd_call():
        up()
        return jax.jacfwd(f)(x).block_until_ready()

    out = {
        JACX: jacx_call,
        JIT: jit_call,
        JIT_ARGS: jit_args_call,
        FWD: fwd_call,
        EVAL: lambda: f(x).block_until_ready(),
        TRACE: lambda: jax.make_jaxpr(lambda v: f(v))(x),  # a fresh lambda: JAX's trace cache cannot answer
    }
    if update is not None:
        out[UPDATE] = up
    return out


def check_state_values(label: str, f: Callable, x: jax.Array) -> None:
    """jacx must agree with a fresh eager jax.jacfwd after the state moved (the point of the cache)."""
    got, want = np.asarray(jacx.jacobian(f)(x)), np.asarray(jax.jacfwd(f)(x))
    if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
        raise AssertionError(f"{label}: jacx disagrees with jax.jacfwd (max abs diff {np.max(np.abs(got - want))})")


# --------------------------------------------------------------------------------------------------- section 3
def make_model(W):
    def model(v):
        return jnp.tanh(W @ v)

    return model


def factory_round(use_jacx: bool, seed: int) -> dict[str, float]:
    """FACTORY_MODELS fresh closures, each called FACTORY_CALLS times. Seconds: the total, the mean first call, the
    median and mean of the later calls, and the slowest later call position (mean over models) with its time."""
    rng = np.random.default_rng(seed)
    Ws = [jnp.asarray(rng.standard_normal((3, 3)).astype(np.float32)) for _ in range(FACTORY_MODELS)]
    x = jnp.asarray(np.array([0.1, -0.2, 0.3], np.float32))
    if use_jacx:
        jacx.clear_caches()
    times = np.zeros((FACTORY_MODELS, FACTORY_CALLS))
    t_start = time.perf_counter()
    for m, W in enumerate(Ws):
        model = make_model(W)
        if not use_jacx:
            jf = jax.jit(jax.jacfwd(model))
        for i in range(FACTORY_CALLS):
            t0 = time.perf_counter()
            (jacx.jacobian(model)(x) if use_jacx else jf(x)).block_until_ready()
            times[m, i] = time.perf_counter() - t0
    total = time.perf_counter() - t_start
    per_position = times[:, 1:].mean(axis=0)
    slowest = int(np.argmax(per_position))
    return {"total": total, "first": float(times[:, 0].mean()), "later": float(np.median(times[:, 1:])),
            "later_mean": float(times[:, 1:].mean()), "slowest_at": slowest + 2,
            "slowest": float(per_position[slowest])}


def run_factory(rounds: int) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {"jacx": [], "jit": []}
    for r in range(rounds):
        for use_jacx in ((True, False) if r % 2 == 0 else (False, True)):
            out["jacx" if use_jacx else "jit"].append(factory_round(use_jacx, seed=100 + r))
    return out


# --------------------------------------------------------------------------------------------------- section 4
def logdet_contestants() -> dict[str, Callable[[], object]]:
    b = realnvp(jax.random.key(0), n=8).bijector
    x = jnp.asarray(np.random.default_rng(4).standard_normal(8).astype(np.float32))
    jitted = jax.jit(lambda v: jacx.logdet.logdet(b)(v))
    a, j = jacx.logdet.logdet(b)(x), jitted(x)
    if not np.allclose(float(a.logabsdet), float(j.logabsdet), rtol=1e-4, atol=1e-5):
        raise AssertionError(f"logdet disagrees: {a.logabsdet} vs {j.logabsdet}")
    return {
        "jacx.logdet.logdet(b)(x)": lambda: jacx.logdet.logdet(b)(x).logabsdet.block_until_ready(),
        "jax.jit(lambda x: jacx.logdet.logdet(b)(x))": lambda: jitted(x).logabsdet.block_until_ready(),
    }


# --------------------------------------------------------------------------------------------------- report
def judged(ok: bool, busy: bool) -> str:
    return "not judged (busy)" if busy else ("yes" if ok else "**no**")


def pure_rows(results: dict[str, dict[str, list[float]]], busy: bool) -> list[list[str]]:
    rows = []
    for prob, s in results.items():
        jit = C.median(s[JIT])
        for label, xs in s.items():
            med = C.median(xs)
            ratio = med / jit
            verdict = judged(ratio <= PURE_GOAL, busy) if label in (JACX_ONCE, JACX) else ""
            rows.append([prob, label, C.fmt_time(med), f"±{C.spread(xs) * 100:.0f}%", f"{ratio:.2f}",
                         f"{min(xs) / min(s[JIT]):.2f}", verdict])
    return rows


def state_rows(results: dict[tuple[str, str], dict[str, list[float]]]) -> list[list[str]]:
    rows = []
    for (prob, scen), s in results.items():
        for label, xs in s.items():
            name = f"{label} (stale)" if label == JIT and scen[0] in "abc" else label
            rows.append([prob, scen, name, C.fmt_time(C.median(xs)), f"±{C.spread(xs) * 100:.0f}%",
                         C.fmt_time(min(xs))])
    return rows


def check_rows(results: dict[tuple[str, str], dict[str, list[float]]], busy: bool) -> list[list[str]]:
    rows = []
    for (prob, scen), s in results.items():
        jx, jit, jit_args, ev, tr = (C.median(s[k]) for k in (JACX, JIT, JIT_ARGS, EVAL, TRACE))
        cost = jx - jit
        ok = cost <= CHECK_GOAL * max(ev, tr)
        rows.append([prob, scen, C.fmt_time(jx), C.fmt_time(jit), C.fmt_time(jit_args), C.fmt_time(cost),
                     C.fmt_time(ev), C.fmt_time(tr), f"{cost / ev:.2f}", f"{cost / tr:.2f}", f"{jx / jit:.2f}",
                     judged(ok, busy)])
    return rows


def factory_rows(fac: dict[str, list[dict[str, float]]]) -> list[list[str]]:
    rows = []
    for name, label in (("jacx", "jacx.jacobian(model)(x)"), ("jit", "jax.jit(jax.jacfwd(model)) per model")):
        rs = fac[name]
        med = lambda key: C.median([r[key] for r in rs])  # noqa: E731
        at = statistics.mode([r["slowest_at"] for r in rs])
        rows.append([label, C.fmt_time(med("total")), C.fmt_time(med("first")), C.fmt_time(med("later")),
                     C.fmt_time(med("later_mean")), f"call {at}: {C.fmt_time(med('slowest'))}", str(len(rs))])
    return rows


def simple_rows(s: dict[str, list[float]], ref: str) -> list[list[str]]:
    base = C.median(s[ref])
    return [[k, C.fmt_time(C.median(xs)), f"±{C.spread(xs) * 100:.0f}%", f"{C.median(xs) / base:.2f}",
             C.fmt_time(min(xs))] for k, xs in s.items()]


PURE_HEADERS = ["function", "contestant", "median per call", "spread", "ratio to jit (medians)",
                "ratio to jit (fastest rounds)", f"within {PURE_GOAL:g}x"]
STATE_HEADERS = ["problem", "state", "contestant", "median per call", "spread", "fastest round"]
CHECK_HEADERS = ["problem", "state", "jacx", "jit (stale if changed)", "jit, state as argument", "check = jacx - jit",
                 "one eval f(x)", "one trace", "check / eval", "check / trace", "jacx / jit",
                 f"check <= {CHECK_GOAL:g}x max(eval, trace)"]
FACTORY_HEADERS = ["contestant", f"total ({FACTORY_MODELS} models x {FACTORY_CALLS} calls)", "mean first call",
                   "median later call", "mean later call", "slowest later call (mean over models)", "rounds"]
LOGDET_HEADERS = ["contestant", "median per call", "spread", "ratio to jit", "fastest round"]


def body_text(sections: list[tuple[str, list[str], list[list[str]]]], table: Callable) -> str:
    heading = "### " if table is C.markdown_table else ""
    return "\n\n".join(f"{heading}{title}\n\n{table(h, r)}" for title, h, r in sections)


def write_markdown(path: Path, info: dict[str, str], sections, quick: bool, repeats: int, busy: bool) -> None:
    note = ("**Quick smoke run** (`--quick`): few repeats, numbers are indicative only." if quick
            else f"Medians of {repeats} interleaved rounds per case, all contestants of a case in the same run.")
    if busy:
        note += ("\n\n**Busy machine**: the load average exceeded the number of usable cores during this run (see the "
                 "machine table), so these figures are preliminary and not judged; rerun on an idle machine.")
    text = f"""# Compile-cache benchmark

Generated by `benchmarks/bench_cache.py`; do not edit by hand, rerun the command below instead.
{note}

jacx compiles un-jitted calls itself (`src/jacx/_autojit.py`). A function that provably reads only immutable
state takes a guarded fast path (identity checks on what it reads, then the compiled program; after 256 calls on
the same state the constants are baked into the executable). A function that reads mutable state (a dict), or
whose guard failed (a global or an attribute was rebound: the guard is then rebuilt), is traced again on every
call and the compiled program is reused by the trace's structure, with the constants passed as arguments (no
recompile). Everything is
float32 on the CPU; each timed call waits for its result (`block_until_ready`). Contestants of a case are
interleaved: every round times each of them once, in a freshly shuffled order (`_common.time_interleaved`).
"Spread" is half the inter-quartile range over rounds, relative to the median.

* **Pure functions**: `jacx.jacobian(f)` built once and called; `jacx.jacobian(f)(x)` rebuilt every call (as in a
  user's loop: the memo lookup is included); `jax.jit(jax.jacfwd(f))`; un-jitted `jax.jacfwd(f)(x)`. Goal: un-jitted
  jacx within {PURE_GOAL:g}x of the jit.
* **Functions that read state**: (a) a params dict whose `"W"` is replaced by `params["W"] + 0.0` before every call;
  (b) a module global `W` rebound the same way; (c) a bound method reading `self.W`, with `self.W` rebound;
  (d) a params dict that is not changed (still re-traced: a dict can change in place); (g) a global that is not
  changed (the guarded fast path, for reference). The jacx, jit and eager-jacfwd contestants all include the
  update (finished before the Jacobian is asked for), which is also timed alone. `jax.jit(jax.jacfwd(f))` was traced once, so in (a)-(c) it returns the
  Jacobian of the *old* state (stale): it is the speed of the compiled Jacobian alone, not a correct alternative.
  The correct compiled alternative, `jax.jit(jax.jacfwd(g))(x, state)` with the state passed as an argument (what
  jacx's warning suggests), is shown next to it.
  "check = jacx - jit" is what jacx pays to stay correct; it is compared with one eager evaluation `f(x)` and
  with one `jax.make_jaxpr(lambda v: f(v))(x)` trace (a fresh lambda each call, so JAX's trace cache cannot
  answer). Goal: the check costs at most about one evaluation or one re-trace (here: <= {CHECK_GOAL:g}x the larger of
  the two, which is the trace in every case here).
  Before timing, each jacx Jacobian is checked against a fresh `jax.jacfwd` after the state changed.
* **Factory**: {FACTORY_MODELS} closures of one `make_model(W)` (3x3 tanh layer, a different `W` each), each called
  {FACTORY_CALLS} times; jacx (caches cleared before each of its rounds) against `jax.jit(jax.jacfwd(model))` made
  per model (one compile each). One-shot timings, rounds alternating; medians over rounds.
* **Log-determinant**: a RealNVP bijector (`jacx.flows.realnvp(jax.random.key(0), n=8).bijector`).

## Machine

{C.markdown_table(["item", "value"], [[k, f"`{v}`" if k == "command" else v] for k, v in info.items()])}

## Results

{body_text(sections, C.markdown_table)}
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run (few repeats, short samples)")
    ap.add_argument("--out", default=None, help="Markdown output (default: docs/benchmarks-cache.md in the repo)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds per case (default 15; 5 quick)")
    ap.add_argument("--allow-busy", action="store_true", help="write the table even when the machine was busy")
    args = ap.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 15)
    target_s = 0.005 if args.quick else 0.02
    factory_rounds = 1 if args.quick else 3
    out = Path(args.out) if args.out else C.REPO_ROOT / "docs" / "benchmarks-cache.md"
    warnings.simplefilter("ignore", jacx.AutoJitWarning)  # the state cases warn once, by design

    cores = C.usable_cores()
    load_before = C.load_average()
    t_start = time.perf_counter()
    print(f"bench_cache: {repeats} rounds, ~{target_s * 1e3:.0f} ms samples; load {load_before}", flush=True)

    pure = {}
    for name, f, p in PURE:
        x = jnp.asarray(np.asarray(p, np.float32))
        fns = pure_contestants(f, x)
        ref = np.asarray(fns[JIT]())
        for label in (JACX_ONCE, JACX, FWD):
            if not np.allclose(np.asarray(fns[label]()), ref, rtol=1e-5, atol=1e-6):
                raise AssertionError(f"{name}: {label} disagrees with {JIT}")
        print(f"  timing pure: {name} ...", flush=True)
        pure[name] = C.time_interleaved(fns, repeats=repeats, target_s=target_s, warmup=WARMUP)

    state = {}
    for kind, prob in STATE_PROBLEMS:
        for scen, scen_text, _ in SCENARIOS:
            f, update, current, x = state_case(kind, scen)
            if update is not None:
                check_state_values(f"{prob} ({scen})", f, x)
                update()
                check_state_values(f"{prob} ({scen}) after an update", f, x)
            print(f"  timing state: {prob}, ({scen}) {scen_text} ...", flush=True)
            state[(prob, f"({scen}) {scen_text}")] = C.time_interleaved(
                state_contestants(f, update, current, APPLY[kind], x), repeats=repeats, target_s=target_s,
                warmup=WARMUP)

    print("  timing factory ...", flush=True)
    fac = run_factory(factory_rounds)

    print("  timing logdet ...", flush=True)
    ld = C.time_interleaved(logdet_contestants(), repeats=repeats, target_s=target_s, warmup=WARMUP)

    load_after = C.load_average()
    busy = any(C.load_1min(text) > cores for text in (load_before, load_after))
    extra = {"JAX backend": f"{jax.default_backend()} ({jax.devices()[0].device_kind})",
             "load average 1/5/15 min (start; end)": f"{load_before}; {load_after}",
             "benchmark wall time": f"{time.perf_counter() - t_start:.0f} s"}
    info = C.machine_info(["jax", "jaxlib", "numpy"], extra)

    sections = [
        ("Pure functions (guarded fast path)", PURE_HEADERS, pure_rows(pure, busy)),
        ("Functions that read state: the check's cost", CHECK_HEADERS, check_rows(state, busy)),
        ("Functions that read state: every contestant", STATE_HEADERS, state_rows(state)),
        ("Factory of models", FACTORY_HEADERS, factory_rows(fac)),
        ("Log-determinant of a RealNVP (n=8)", LOGDET_HEADERS,
         simple_rows(ld, "jax.jit(lambda x: jacx.logdet.logdet(b)(x))")),
    ]
    print()
    plain = [(t, h, [[c.replace("**", "") for c in r] for r in rows]) for t, h, rows in sections]
    print(body_text(plain, C.text_table))
    print(f"\nload average 1/5/15 min: start {load_before}; end {load_after}")
    if busy and not args.allow_busy:
        print(f"\nbusy machine (1-min load above {cores} usable cores): not judged, {out.name} left unchanged; "
              "rerun on an idle machine (or pass --allow-busy to write a preliminary table)", file=sys.stderr)
        return 3
    write_markdown(out, info, sections, args.quick, repeats, busy)
    shown = out.resolve().relative_to(C.REPO_ROOT) if out.resolve().is_relative_to(C.REPO_ROOT) else out
    print(f"\nwritten to {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
