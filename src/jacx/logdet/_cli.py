"""``jacx plot``: volume-change pictures of a 2-D map given as text, e.g. ``jacx plot "x**2 - y**2, 2*x*y"``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import jax

from .._argparse import OneLineParser, save_figure
from .._errors import JacxUsageError

__all__ = ["cli_main", "map_from_text"]


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="jacx plot",
        description="Draw how a map (x, y) -> (u, v) deforms the plane: the image of a grid and det J, with the "
        "regions that expand, contract and reverse orientation marked.",
    )
    p.add_argument("expression", help='two comma-separated expressions in x and y, e.g. "x**2 - y**2, 2*x*y"')
    p.add_argument("-o", "--output", default="map.png", help="image file to write (default: map.png)")
    p.add_argument("--xlim", nargs=2, type=float, default=(-2.0, 2.0), metavar=("LOW", "HIGH"))
    p.add_argument("--ylim", nargs=2, type=float, default=(-2.0, 2.0), metavar=("LOW", "HIGH"))
    p.add_argument("--resolution", type=int, default=200, help="grid points per axis for det J (default 200)")
    p.add_argument("--dpi", type=int, default=110)
    return p


def map_from_text(text: str) -> Callable[[jax.Array], jax.Array]:
    """A JAX map ``(x, y) -> (u, v)`` from text such as ``"x**2 - y**2, 2*x*y"``, parsed safely by
    :mod:`jacx.symbolic` (nothing in the text is executed).

    >>> import jax.numpy as jnp
    >>> map_from_text("x**2 - y**2, 2*x*y")(jnp.array([1.0, 2.0]))
    Array([-3.,  4.], dtype=float32)
    """
    from ..symbolic import parse_expressions, parse_variables, to_jax

    exprs = parse_expressions(text)
    variables = parse_variables("x y")
    if len(exprs) != 2:
        raise JacxUsageError(
            f"received {len(exprs)} expression(s) in {text!r}; a plane map needs exactly two, u and v, separated "
            'by a comma, e.g. "x**2 - y**2, 2*x*y".'
        )
    extra = sorted(str(s) for e in exprs for s in e.free_symbols if s not in variables)
    if extra:
        raise JacxUsageError(
            f"received the unknown variable(s) {', '.join(extra)} in {text!r}; expected only x and y."
        )
    return to_jax(exprs, variables)


def cli_main(argv: Sequence[str]) -> int:
    """Run ``jacx plot``; returns 0 on success and 2 (one line on stderr) for bad input.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.png")
    >>> cli_main(["x**2 - y**2, 2*x*y", "-o", path, "--resolution", "30"])   # doctest: +ELLIPSIS
    wrote ...m.png: expands on ...% of the window, contracts on ...%, reverses orientation on 0%
    0
    >>> cli_main(["x*y"])
    2
    """
    try:
        try:
            args = _parser().parse_args(list(argv))
        except SystemExit as done:  # --help
            return int(done.code or 0)
        f = map_from_text(args.expression)
        from ._plot import plot_map, volume_map

        vm = volume_map(f, tuple(args.xlim), tuple(args.ylim), args.resolution)
        fig = plot_map(f, xlim=tuple(args.xlim), ylim=tuple(args.ylim), resolution=args.resolution,
                       title=f"(u, v) = ({args.expression})")
        save_figure(fig, args.output, dpi=args.dpi)
    except JacxUsageError as err:
        print("jacx plot: error: " + " ".join(str(err).split()), file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {vm.summary()}")
    return 0
