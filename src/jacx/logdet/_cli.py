"""``jacx plot``: volume-change pictures of a 2-D map given as text, e.g. ``jacx plot "x**2 - y**2, 2*x*y"``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .._argparse import OneLineParser, OrderedPair, add_output_option, bounded_float, bounded_int, interrupt_guard
from .._argparse import prepare_output_file, save_figure
from .._errors import JacxUsageError

if TYPE_CHECKING:
    import jax

_WINDOW = bounded_float(-1e6, 1e6, note="keeps the grid and most maps within float32 range", example=-2)

__all__ = ["cli_main", "map_from_text"]


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="jacx plot",
        description="Draw how a map (x, y) -> (u, v) deforms the plane: the image of a grid and det J, with the "
        "regions that expand, contract and reverse orientation marked.",
        expression="expression",
    )
    p.add_argument("expression", help='two comma-separated expressions in x and y, e.g. "x**2 - y**2, 2*x*y"')
    add_output_option(p, default="map.png", help="image file to write (default: map.png; a folder gets map.png "
                      "inside, no extension gets .png)")
    for axis in ("x", "y"):
        p.add_argument(f"--{axis}lim", nargs=2, type=_WINDOW, action=OrderedPair, default=(-2.0, 2.0),
                       metavar=("LOW", "HIGH"), help=f"the window's {axis} range, finite, |value| <= 1e6, LOW < HIGH "
                       "(default -2 2)")
    p.add_argument("--resolution", type=bounded_int(2, 2000, note="a finer grid takes too long", example=200),
                   default=200, help="grid points per axis for det J, 2 to 2000 (default 200)")
    p.add_argument("--dpi", type=bounded_int(20, 1000, note="a larger image does not fit in memory", example=110),
                   default=110, help="image resolution, 20 to 1000 dots per inch (default 110)")
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
    with interrupt_guard("jacx plot"):
        try:
            try:
                args = _parser().parse_args(list(argv))
            except SystemExit as done:  # --help
                return int(done.code or 0)
            f = map_from_text(args.expression)
            target = prepare_output_file(args.output, "map.png")
            from ._plot import plot_map, volume_map

            vm = volume_map(f, tuple(args.xlim), tuple(args.ylim), args.resolution)
            fig = plot_map(f, xlim=tuple(args.xlim), ylim=tuple(args.ylim), resolution=args.resolution,
                           title=f"(u, v) = ({args.expression})")
            written = save_figure(fig, target, dpi=args.dpi)
        except JacxUsageError as err:
            print("jacx plot: error: " + " ".join(str(err).split()), file=sys.stderr)
            return 2
        print(f"wrote {written}: {vm.summary()}")
        return 0
