"""``jacx sparse ...``: spy plots and a small report for the built-in sparse problems."""

from __future__ import annotations

import sys
import time

from .._argparse import CommandLineError, OneLineParser, save_figure

__all__ = ["cli_main"]

_DEFAULT_SIZE = {"brusselator": 32, "broyden-tridiagonal": 1000, "broyden-banded": 1000, "arrow": 200, "conv": 256}


def _parser() -> OneLineParser:
    from jacx.sparse.problems import PROBLEMS

    p = OneLineParser(prog="jacx sparse", description="Sparse Jacobians of built-in problems.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("info", "detect, color and evaluate; print a summary"), ("spy", "save a spy plot")):
        s = sub.add_parser(name, help=text)
        s.add_argument("problem", choices=sorted(PROBLEMS))
        s.add_argument("--size", type=int, default=None, help="grid size N (brusselator) or n (others)")
        s.add_argument("--mode", default="auto", choices=["auto", "forward", "reverse", "bidirectional"])
        if name == "spy":
            s.add_argument("--out", default="sparsity.png", help="image file to write")
    return p


def cli_main(argv: list[str]) -> int:
    """Run ``jacx sparse`` with ``argv`` (without the program name); return the exit status.

    >>> cli_main(["info", "broyden-tridiagonal", "--size", "50"])  # doctest: +ELLIPSIS
    broyden-tridiagonal (size 50): 50 x 50, 148 nonzeros, 3 products (forward, ...)
    ...
    0
    """
    try:
        return _run(argv)
    except CommandLineError as err:
        print(f"jacx sparse: error: {err}", file=sys.stderr)
        return 2


def _run(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help
        return int(stop.code or 0)
    import jacx.sparse as js
    from jacx.sparse.problems import PROBLEMS

    size = args.size or _DEFAULT_SIZE[args.problem]
    if size < 2:
        print(f"jacx sparse: received --size {size}; expected at least 2.", file=sys.stderr)
        return 2
    f, x = PROBLEMS[args.problem](size)
    t0 = time.perf_counter()
    jac = js.jacobian(f, x, mode=args.mode)
    prep = time.perf_counter() - t0
    m, n = jac.shape
    method = getattr(jac.coloring, "method", "")
    print(f"{args.problem} (size {size}): {m} x {n}, {jac.sparsity.nnz} nonzeros, {jac.n_colors} products "
          f"({jac.mode}, {method})")
    if args.command == "info":
        print(f"preparation {prep:.3f} s; {js.check_sparse_jacobian(f, x, jac=jac)}")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    ax = js.spy(jac.sparsity, jac.coloring)
    save_figure(ax.figure, args.out, dpi=150, bbox_inches="tight")
    print(f"wrote {args.out}")
    return 0
