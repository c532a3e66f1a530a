"""Why reverse mode exists: the input gradient of an MLP by a chain of VJPs (backpropagation) versus materialising
the product of its layer Jacobians first, and versus forward mode (one tangent per input entry).

    python benchmarks/bench_backprop.py                 # widths 512 x 5 -> 1, 15 rounds, about a minute
    python benchmarks/bench_backprop.py --quick         # smoke run
    python benchmarks/bench_backprop.py --width 256 --depth 3 --repeats 21
    python benchmarks/bench_backprop.py --torch-threads 1   # on a busy machine: 2 spinning threads distort torch

Contestants (float32, CPU, all checked to agree before timing): JAX ``jax.grad`` (jitted), the materialised
product of layer Jacobians (jitted), ``jax.jacfwd`` (jitted); with PyTorch installed (a benchmark-only extra) also
``loss.backward()`` and the materialised product in eager PyTorch.  Timing is interleaved and shuffled per round
(``benchmarks/_common.py``); the table reports the median per call, the spread, the ratio to ``jax.grad`` and the
multiply-add count of each strategy (``jacx.backprop.product_costs``).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from _common import (
    fmt_time,
    load_average,
    machine_info,
    median,
    spread,
    text_table,
    time_interleaved,
    usable_cores,
    write_report,
)

from jacx.backprop import init_mlp, mlp, product_costs


def _jax_contestants(params, x) -> dict:
    def loss(x):
        return jnp.sum(mlp(params, x))

    @jax.jit
    def materialise(x):  # every layer Jacobian as a matrix, multiplied from the input end, then the loss row
        h, M = x, None
        for k, (W, b) in enumerate(params):
            z = W @ h + b
            last = k == len(params) - 1
            h = z if last else jnp.tanh(z)
            J = W if last else (1 - h**2)[:, None] * W
            M = J if M is None else J @ M
        return M[0]

    return {
        "jax.grad (VJP chain)": jax.jit(jax.grad(loss)),
        "JAX materialised product": materialise,
        "jax.jacfwd (forward mode)": jax.jit(jax.jacfwd(loss)),
    }


def _torch_contestants(params, x, threads: int) -> dict:
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(threads or usable_cores())
    Ws = [torch.tensor(np.asarray(W)) for W, _ in params]
    bs = [torch.tensor(np.asarray(b)) for _, b in params]
    xt = torch.tensor(np.asarray(x))

    def backward():
        xr = xt.clone().requires_grad_(True)
        h = xr
        for k, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            z = W @ h + b
            h = z if k == len(Ws) - 1 else torch.tanh(z)
        h.sum().backward()
        return xr.grad

    def materialise():
        with torch.no_grad():
            h, M = xt, None
            for k, (W, b) in enumerate(zip(Ws, bs, strict=True)):
                z = W @ h + b
                last = k == len(Ws) - 1
                h = z if last else torch.tanh(z)
                J = W if last else (1 - h**2)[:, None] * W
                M = J if M is None else J @ M
            return M[0]

    return {"torch backward (VJP chain)": backward, "torch materialised product": materialise}


def main() -> None:
    parser = argparse.ArgumentParser(description="Backpropagation (VJP chain) vs a materialised Jacobian product.")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=4, help="hidden layers")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 rounds of short samples")
    parser.add_argument("--torch-threads", type=int, default=0, help="PyTorch threads (default: usable cores)")
    parser.add_argument("--out", default="docs/benchmarks-backprop.md", help="Markdown report ('' for none)")
    args = parser.parse_args()
    repeats, target = (5, 0.005) if args.quick else (args.repeats, 0.03)
    sizes = [args.width] * (args.depth + 1) + [1]
    params = init_mlp(jax.random.PRNGKey(0), sizes)
    x = jax.random.normal(jax.random.PRNGKey(1), (args.width,))

    jax_fns = _jax_contestants(params, x)
    torch_fns = _torch_contestants(params, x, args.torch_threads)
    reference = np.asarray(jax_fns["jax.grad (VJP chain)"](x))
    for name, fn in jax_fns.items():
        np.testing.assert_allclose(np.asarray(fn(x)), reference, rtol=1e-3, atol=1e-4, err_msg=name)
    for name, fn in torch_fns.items():
        np.testing.assert_allclose(fn().numpy(), reference, rtol=1e-3, atol=1e-4, err_msg=name)

    contestants = {name: (lambda fn=fn: fn(x).block_until_ready()) for name, fn in jax_fns.items()}
    contestants.update(torch_fns)
    samples = time_interleaved(contestants, repeats=repeats, target_s=target)

    costs = product_costs(sizes)
    macs = {"VJP chain": costs["vjp_chain"], "materialised": costs["materialise_then_apply"],
            "forward": costs["jvp_chain"]}
    base = median(samples["jax.grad (VJP chain)"])
    rows = []
    for name, times in samples.items():
        kind = "VJP chain" if "VJP" in name else ("materialised" if "materialised" in name else "forward")
        rows.append([name, fmt_time(median(times)), f"±{spread(times) * 100:.0f}%", f"{median(times) / base:.1f}x",
                     f"{macs[kind]:,}"])
    info = machine_info(["jax", "torch"], {"load (1/5/15 min)": load_average()})
    print("\n".join(f"{k}: {v}" for k, v in info.items()))
    body = (f"MLP widths {sizes}, input gradient of sum(output); median of {repeats} interleaved rounds\n\n"
            + text_table(["contestant", "median", "spread", "vs jax.grad", "multiply-adds"], rows))
    print("\n" + body)
    if args.out:
        write_report(args.out, "Backpropagation: VJP chain vs materialised Jacobian product", info, body)


if __name__ == "__main__":
    main()
