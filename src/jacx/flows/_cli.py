"""``jacx flow``: train a normalizing flow on a 2-D toy data set and write its pictures."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._argparse import OneLineParser, add_output_option, bounded_int, interrupt_guard, positive_finite_float
from .._argparse import prepare_output_folder, save_figure
from .._errors import JacxUsageError

__all__ = ["cli_main"]


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="jacx flow",
        description="Train a RealNVP (or MAF) flow on a 2-D toy data set, check that the learned density "
        "integrates to 1, and write pictures of the density and of how the trained map changes volume.",
    )
    p.add_argument("--data", default="moons", choices=["moons", "rings", "checkerboard"],
                   help="the toy data set: moons, rings or checkerboard (default moons)")
    p.add_argument("--model", default="realnvp", choices=["realnvp", "maf"],
                   help="the flow: realnvp (affine couplings) or maf (masked autoregressive) (default realnvp)")
    p.add_argument("--steps", type=bounded_int(1, 1_000_000, example=4000), default=4000,
                   help="training steps, 1 to 1000000 (default 4000)")
    p.add_argument("--layers", type=bounded_int(1, 32, note="deeper flows do not fit in memory", example=8),
                   default=8, help="coupling (or MAF) layers, 1 to 32 (default 8)")
    p.add_argument("--hidden", type=bounded_int(1, 512, note="wider layers do not fit in memory", example=64),
                   default=64, help="width of the two hidden layers of each conditioner, 1 to 512 (default 64)")
    p.add_argument("--batch-size", type=bounded_int(1, 4096, note="larger batches do not fit in memory",
                                                    example=256),
                   default=256, help="points per training step, 1 to 4096 (default 256)")
    p.add_argument("--learning-rate", type=positive_finite_float(1.0, note="larger rates diverge", example=2e-3),
                   default=2e-3, help="Adam's initial learning rate, in (0, 1] (default 0.002)")
    p.add_argument("--num-data", type=bounded_int(1, 200_000, note="more points do not fit in memory",
                                                  example=20_000),
                   default=20_000, help="size of the toy data set, 1 to 200000 (default 20000)")
    p.add_argument("--seed", type=bounded_int(0, 2**32 - 1, note="JAX keys hold 32 bits", example=0), default=0,
                   help="random seed, 0 to 4294967295 (default 0)")
    add_output_option(p, default="flow_output", old_spellings=("--output-dir",),
                      help="folder for the figures (created if needed; default flow_output)")
    p.add_argument("--mixing", action="store_true", help="realnvp: trainable LU linear maps between couplings")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def cli_main(argv: Sequence[str]) -> int:
    """Run ``jacx flow``; returns 0 on success, 1 if training diverged or the trained density fails the
    normalisation check, and 2 (one line on stderr) for bad input.  Ctrl-C ends it with one line and status 130,
    leaving no partly written figure.

    >>> cli_main(["--steps", "0"])
    2
    """
    with interrupt_guard("jacx flow"):
        try:
            return _run(argv)
        except JacxUsageError as err:
            print("jacx flow: error: " + " ".join(str(err).split()), file=sys.stderr)
            return 2


def _run(argv: Sequence[str]) -> int:
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as done:  # --help
        return int(done.code or 0)
    prepare_output_folder(args.output)  # before training, not after it

    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..logdet._plot import plot_map
    from ._data import make_dataset
    from ._plot import plot_density, plot_losses
    from ._train import grid_integral, maf, realnvp, train

    k_data, k_init, k_train, k_sample = jax.random.split(jax.random.key(args.seed), 4)
    data = make_dataset(args.data, k_data, args.num_data)
    if args.model == "realnvp":
        flow = realnvp(k_init, 2, args.layers, (args.hidden, args.hidden), mixing=args.mixing)
    else:
        flow = maf(k_init, 2, args.layers, (args.hidden, args.hidden))
    print(f"training a {args.model} flow ({args.layers} layers, hidden {args.hidden}) on {args.data} "
          f"({args.num_data} points, {args.steps} steps)")
    result = train(flow, data, key=k_train, steps=args.steps, batch_size=args.batch_size,
                   learning_rate=args.learning_rate, progress=not args.no_progress)
    bad = np.flatnonzero(~np.isfinite(result.losses))
    if bad.size:
        print(f"jacx flow: error: training diverged (the loss became {result.losses[bad[0]]} at step {bad[0] + 1}); "
              f"rerun with a smaller --learning-rate than {args.learning_rate:g}, e.g. {args.learning_rate / 10:g}",
              file=sys.stderr)
        return 1
    nll = -float(jnp.mean(result.flow.log_prob(data)))
    box = ((-6.0, 6.0), (-6.0, 6.0))
    mass = grid_integral(result.flow, box, 500)
    prefix = os.path.join(args.output, f"flow_{args.data}")
    bij = result.flow.bijector
    paths = [
        save_figure(plot_density(result.flow, data, key=k_sample), prefix + "_density.png", dpi=110),
        save_figure(plot_losses(result.losses), prefix + "_loss.png", dpi=110),
        save_figure(plot_map(bij.forward, xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), resolution=150,
                             title=f"the trained map data -> latent ({args.data})"), prefix + "_volume.png", dpi=110),
    ]
    print(f"trained in {result.seconds:.1f} s; data NLL {nll:.3f} nats/point")
    ok = abs(mass - 1.0) < 0.01
    print(f"density integrates to {mass:.4f} on [-6, 6]^2 ({'within' if ok else 'NOT within'} 1% of 1)")
    print("wrote " + ", ".join(paths))
    return 0 if ok else 1
