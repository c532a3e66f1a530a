"""Evaluating a small symbolic Jacobian at one point: jacx's fast float path against its peers, in one run.

Problems (the tutorial functions)
  F(x,y)   = (x^2 + y, xy)                    at (1, 2)
  F(x,y,z) = (x^2 + yz, sin(xy), e^(x+z))     at (1, 2, 0.5)

Contestants (results checked against each other before timing)
  jacx fast path     SymbolicJacobian(text).compile()(x, y, ...): Python floats in, float64 ndarray out
  sympy.lambdify     sympy.lambdify(variables, J) with SymPy's default modules, same floats in
  jax.jit(jacfwd)    jax.jit(jax.jacfwd(f)) of the same function converted with to_jax, on a jax array
  jacx.jacobian      jacx.jacobian(f)(x) as users call it (jacx jits and caches behind the scenes)
  jit symbolic J     the symbolic Jacobian itself converted to JAX (jacobian_to_jax) and jitted

Every JAX call waits for its result (``block_until_ready``). Timing: warm-up first, then ``repeats`` rounds, each
timing every contestant over a calibrated batch of back-to-back calls, contestants interleaved with a rotating
start (benchmarks/_common.py). Reported: the median per-call time over rounds, the +-% half inter-quartile
spread, and the ratio to the jacx fast path.

Run:  python benchmarks/bench_symbolic.py [--repeats 15] [--target 0.05]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import sympy

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import jacx  # noqa: E402
from jacx.symbolic import SymbolicJacobian  # noqa: E402

CASES = {
    "F(x,y) = (x^2 + y, xy)": ("x^2 + y, x*y", (1.0, 2.0)),
    "F(x,y,z) = (x^2 + yz, sin(xy), e^(x+z))": ("x^2 + y*z, sin(x*y), e^(x + z)", (1.0, 2.0, 0.5)),
}
OURS = "jacx fast path"


def contestants(text: str, point: tuple[float, ...]) -> dict[str, object]:
    sj = SymbolicJacobian(text)
    fast = sj.compile()
    lamb = sympy.lambdify(list(sj.variables), sj.matrix)
    f = sj.to_jax()
    x = jnp.asarray(point)
    jit_fwd = jax.jit(jax.jacfwd(f))
    core = jacx.jacobian(f)
    jit_sym = jax.jit(sj.jacobian_to_jax())
    expected = sj.at(point)
    for other in (fast(*point), lamb(*point), jit_fwd(x), core(x), jit_sym(x)):
        np.testing.assert_allclose(np.asarray(other, dtype=float), expected, rtol=1e-5)
    return {
        OURS: lambda: fast(*point),
        "sympy.lambdify": lambda: lamb(*point),
        "jax.jit(jacfwd)": lambda: jit_fwd(x).block_until_ready(),
        "jacx.jacobian": lambda: core(x).block_until_ready(),
        "jit symbolic J": lambda: jit_sym(x).block_until_ready(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds (the median is reported)")
    parser.add_argument("--target", type=float, default=0.05, help="seconds per timed batch")
    parser.add_argument("--out", default="docs/benchmarks-symbolic.md", help="Markdown report ('' for none)")
    args = parser.parse_args()
    body = []
    info = C.machine_info(["jax", "jaxlib", "sympy", "numpy"], {"JAX backend": jax.default_backend()})
    print("\n".join(f"{k}: {v}" for k, v in info.items()))
    for name, (text, point) in CASES.items():
        samples = C.time_interleaved(contestants(text, point), repeats=args.repeats, target_s=args.target)
        ours = C.median(samples[OURS])
        rows = [
            [method, f"{C.median(s) * 1e6:.3f} µs", f"+-{100 * C.spread(s):.0f}%", f"{C.median(s) / ours:.2f}x"]
            for method, s in samples.items()
        ]
        body.append(f"{name} at {point}: median per evaluation over {args.repeats} rounds")
        body.append(C.text_table(["method", "median", "spread", f"vs {OURS}"], rows) + "\n")
        print("\n" + "\n".join(body[-2:]))
    if args.out:
        C.write_report(args.out, "Tiny symbolic Jacobians: per-evaluation cost", info, "\n".join(body))


if __name__ == "__main__":
    main()
