"""``jacx sparse ...``: spy plots and a small report for the built-in sparse problems."""

from __future__ import annotations

import argparse
import sys
import time

from .._argparse import CommandLineError, OneLineParser, add_output_option, bounded_int, interrupt_guard
from .._argparse import prepare_output_file, save_figure

__all__ = ["cli_main"]

_DEFAULT_SIZE = {"brusselator": 32, "broyden-tridiagonal": 1000, "broyden-banded": 1000, "arrow": 200, "conv": 256,
                 "stencil-3d": 12, "mesh": 1000}

# Largest --size per command and problem.  info: at most about a million unknowns (2 N^2 for brusselator, 4 n for
# conv, N^3 for stencil-3d; the mesh's Delaunay triangulation and coloring make 200,000 points take ~10 s),
# measured at 10-20 s and under 1.5 GB on 2 cores; spy: at most about 2 million nonzeros to draw (under 10 s and
# 1 GB).
_MAX_SIZE = {
    "info": {"brusselator": 700, "broyden-tridiagonal": 1_000_000, "broyden-banded": 1_000_000, "arrow": 1_000_000,
             "conv": 250_000, "stencil-3d": 100, "mesh": 200_000},
    "spy": {"brusselator": 400, "broyden-tridiagonal": 500_000, "broyden-banded": 250_000, "arrow": 500_000,
            "conv": 25_000, "stencil-3d": 60, "mesh": 100_000},
}
_MIN_SIZE = {"mesh": 3}  # a triangulation needs three points
_NOTE = {"info": "larger problems do not fit comfortably in memory and time",
         "spy": "a larger spy plot takes too long to draw"}


def _parser() -> OneLineParser:
    from jacx.sparse.problems import LAYOUTS, PROBLEMS

    p = OneLineParser(prog="jacx sparse", description="Sparse Jacobians of built-in problems.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{info,spy}", help="what to do with the problem")
    for name, text in (("info", "detect, color and evaluate; print a summary"), ("spy", "save a spy plot")):
        s = sub.add_parser(name, help=text)
        s.add_argument("problem", choices=sorted(PROBLEMS), help="which built-in problem: "
                       f"{', '.join(sorted(PROBLEMS))}")
        s.add_argument("--size", default=None, metavar="N",
                       help="grid size N (brusselator, stencil-3d), points (mesh, at least 3) or n (others), at least 2; the largest allowed depends on the "
                       f"problem: {', '.join(f'{k} {v}' for k, v in _MAX_SIZE[name].items())}")
        s.add_argument("--mode", default="auto", choices=["auto", "forward", "reverse", "bidirectional"],
                       help="products to use: JVPs (forward), VJPs (reverse), both (bidirectional) or the "
                       "cheapest (auto, the default)")
        s.add_argument("--layout", default=None, choices=list(LAYOUTS),
                       help="brusselator only: how the state is stored (default shaped); the coloring finds the "
                       "grid in every layout")
        if name == "spy":
            add_output_option(s, default="sparsity.png", old_spellings=("--out",),
                              help="image file to write (default sparsity.png; a folder gets sparsity.png inside)")
    return p


def cli_main(argv: list[str]) -> int:
    """Run ``jacx sparse`` with ``argv`` (without the program name); return the exit status.

    >>> cli_main(["info", "broyden-tridiagonal", "--size", "50"])  # doctest: +ELLIPSIS
    broyden-tridiagonal (size 50): 50 x 50, 148 nonzeros, 3 products (forward, ...)
    ...
    0
    """
    with interrupt_guard("jacx sparse"):
        try:
            return _run(argv)
        except CommandLineError as err:
            print(f"jacx sparse: error: {err}", file=sys.stderr)
            return 2


def _size(command: str, problem: str, text: str | None) -> int:
    """--size checked against the bounds of ``problem`` under ``command`` (a float such as 1e8 is refused)."""
    if text is None:
        return _DEFAULT_SIZE[problem]
    check = bounded_int(_MIN_SIZE.get(problem, 2), _MAX_SIZE[command][problem], note=f"for {problem}; {_NOTE[command]}",
                        example=_DEFAULT_SIZE[problem])
    try:
        return check(text)
    except argparse.ArgumentTypeError as err:
        raise CommandLineError(f"argument --size: {err} (see jacx sparse {command} --help)") from None


def _run(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help
        return int(stop.code or 0)
    import jacx.sparse as js
    from jacx.sparse.problems import PROBLEMS

    size = _size(args.command, args.problem, args.size)
    if args.layout is not None and args.problem != "brusselator":
        raise CommandLineError(f"argument --layout: received --layout {args.layout} for {args.problem}; it applies to "
                               "brusselator only. Fix: drop --layout, or use the brusselator problem.")
    target = prepare_output_file(args.output, "sparsity.png") if args.command == "spy" else ""
    layout = {"layout": args.layout} if args.layout else {}
    f, x = PROBLEMS[args.problem](size, **layout)
    t0 = time.perf_counter()
    jac = js.jacobian(f, x, mode=args.mode)
    prep = time.perf_counter() - t0
    m, n = jac.shape
    method = getattr(jac.coloring, "method", "")
    shown = f"{args.problem} ({args.layout} layout)" if args.layout else args.problem
    print(f"{shown} (size {size}): {m} x {n}, {jac.sparsity.nnz} nonzeros, {jac.n_colors} products "
          f"({jac.mode}, {method})")
    if args.command == "info":
        print(f"preparation {prep:.3f} s; {js.check_sparse_jacobian(f, x, jac=jac)}")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    ax = js.spy(jac.sparsity, jac.coloring)
    written = save_figure(ax.figure, target, dpi=150, bbox_inches="tight")
    print(f"wrote {written}")
    return 0
