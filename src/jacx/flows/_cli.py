"""``jacx flow``: train a normalizing flow on a 2-D toy data set and write its pictures."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._argparse import OneLineParser
from .._errors import JacxUsageError

__all__ = ["cli_main"]


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="jacx flow",
        description="Train a RealNVP (or MAF) flow on a 2-D toy data set, check that the learned density "
        "integrates to 1, and write pictures of the density and of how the trained map changes volume.",
    )
    p.add_argument("--data", default="moons", choices=["moons", "rings", "checkerboard"])
    p.add_argument("--model", default="realnvp", choices=["realnvp", "maf"])
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=64, help="width of the two hidden layers of each conditioner")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--num-data", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output-dir", default="flow_output", help="folder for the figures (created if needed)")
    p.add_argument("--mixing", action="store_true", help="realnvp: trainable LU linear maps between couplings")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise JacxUsageError(f"received --{name} {value}; expected a positive number.")


def cli_main(argv: Sequence[str]) -> int:
    """Run ``jacx flow``; returns 0 on success, 1 if the trained density fails the normalisation check, and 2
    (one line on stderr) for bad input.

    >>> cli_main(["--steps", "0"])
    2
    """
    try:
        try:
            args = _parser().parse_args(list(argv))
        except SystemExit as done:  # --help
            return int(done.code or 0)
        for name in ("steps", "layers", "hidden", "batch_size", "learning_rate", "num_data"):
            _positive(name.replace("_", "-"), getattr(args, name))
        try:
            os.makedirs(args.output_dir, exist_ok=True)
        except OSError as err:
            raise JacxUsageError(f"could not create the folder {args.output_dir!r}: {err}") from None
    except JacxUsageError as err:
        print("jacx flow: error: " + " ".join(str(err).split()), file=sys.stderr)
        return 2

    import jax
    import jax.numpy as jnp

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
    nll = -float(jnp.mean(result.flow.log_prob(data)))
    box = ((-6.0, 6.0), (-6.0, 6.0))
    mass = grid_integral(result.flow, box, 500)
    prefix = os.path.join(args.output_dir, f"flow_{args.data}")
    paths = [prefix + "_density.png", prefix + "_loss.png", prefix + "_volume.png"]
    plot_density(result.flow, data, key=k_sample).savefig(paths[0], dpi=110)
    plot_losses(result.losses).savefig(paths[1], dpi=110)
    bij = result.flow.bijector
    plot_map(bij.forward, xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), resolution=150,
             title=f"the trained map data -> latent ({args.data})").savefig(paths[2], dpi=110)
    print(f"trained in {result.seconds:.1f} s; data NLL {nll:.3f} nats/point")
    ok = abs(mass - 1.0) < 0.01
    print(f"density integrates to {mass:.4f} on [-6, 6]^2 ({'within' if ok else 'NOT within'} 1% of 1)")
    print("wrote " + ", ".join(paths))
    return 0 if ok else 1
