"""The ``jacx`` command.

``jacx "x**2 + y, x*y" --at x=1,y=2`` prints a symbolic Jacobian, its value at a point, the determinant with its
volume verdict and a plain-words reading; ``jacx`` alone runs the tutorial walkthrough; ``jacx plot|flow|sparse|demo
...`` hand over to the other parts of jacx.  Bad input exits with status 2 and a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import sys
from collections.abc import Sequence
from typing import TextIO, final

from ._argparse import OneLineParser

__all__ = ["main", "SUBCOMMANDS", "parse_point", "interpret"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "plot": ("jacx.logdet._cli", "volume-change pictures"),
    "flow": ("jacx.flows._cli", "normalizing-flow training demo"),
    "sparse": ("jacx.sparse._cli", "sparse Jacobian demos and spy plots"),
    "demo": ("jacx._demos", "application demos: robotics, vision, implicit, robustness, backprop"),
}
"""Subcommand -> (module with ``cli_main(argv) -> int``, one-line description)."""

_EPILOG = """\
examples:
  jacx                                   run the tutorial walkthrough (worked examples and exercises)
  jacx "x**2 + y, x*y"                   symbolic Jacobian (and determinant when square)
  jacx "x**2 + y, x*y" --at x=1,y=2      ... and its value, det, volume verdict and a plain-words reading
  jacx "[x^2 - y^2, 2*x*y]" --at 1,2     values in the order of --vars (default: names sorted)
  jacx "a*x + y, x*y" --vars "x y" --at x=1,y=2,a=3   a is a parameter (not differentiated)
  jacx "x*y, sin(x)" --json              one JSON object; --latex prints LaTeX

expressions: numbers, variable names, + - * / ** ^ (power), unary minus, parentheses, commas between outputs,
the constants pi and e, and the functions abs acos acosh asin asinh atan atan2 atanh cos cosh cot csc erf erfc
exp ln log relu sec sigmoid sign sin sinh softplus sqrt tan tanh. Nothing else is accepted and nothing is executed.
Write products explicitly (2*x, x*y). Expressions and --at values may start with '-' (jacx "-x, y" --at -1,2).

other commands (each has its own --help):
""" + "\n".join(f"  jacx {name:<8} {desc}" for name, (_, desc) in SUBCOMMANDS.items())


@final
class _UsageExit(Exception):
    """Raised for bad command-line input; turned into exit status 2 and one line on stderr."""


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="jacx",
        description="Symbolic Jacobians from the command line, checked against automatic differentiation.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("expressions", help='the outputs f1, f2, ... separated by commas, e.g. "x**2 + y, x*y"')
    parser.add_argument("--at", metavar="POINT", help="a point: x=1,y=2 (or 1,2 in variable order); values may be "
                        "expressions such as pi/4")
    parser.add_argument("--vars", metavar="NAMES", help='variable (column) order, e.g. "x y" or "x,y"; other names '
                        "are parameters")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--latex", action="store_true", help="print LaTeX")
    return parser


_OPTION_LIKE = re.compile(r"-h|--[A-Za-z][A-Za-z0-9-]*(=.*)?")  # the only short option is -h


def _normalise_argv(argv: list[str]) -> list[str]:
    """Let values and expressions start with '-': ``--at -1,2`` -> ``--at=-1,2``; ``"-x, y"`` -> ``" -x, y"``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--at", "--vars") and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        if arg == "--":
            return out + argv[i:]
        if arg.startswith("-") and not _OPTION_LIKE.fullmatch(arg):
            arg = " " + arg  # a leading space stops argparse from reading it as an option; the parser skips it
        out.append(arg)
        i += 1
    return out


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _value(text: str, label: str) -> float:
    from .symbolic import parse_expressions

    if not text:
        raise _UsageExit(f"missing value for {label} in --at; write e.g. --at x=1,y=2")
    exprs = parse_expressions(text)
    if len(exprs) != 1 or exprs[0].free_symbols:
        raise _UsageExit(f"the value {text!r} for {label} in --at must be a number (constants like pi are fine)")
    value = complex(exprs[0].evalf())
    if value.imag != 0 or not math.isfinite(value.real):
        raise _UsageExit(f"the value {text!r} for {label} in --at is not a finite real number")
    return value.real


def parse_point(text: str, names: Sequence[str]) -> dict[str, float]:
    """Parse ``--at``: ``"x=1,y=2"`` (any order) or ``"1,2"`` (in the order of ``names``).

    >>> parse_point("y=2, x=pi/2", ["x", "y"])
    {'x': 1.5707963267948966, 'y': 2.0}
    >>> parse_point("1,2", ["x", "y"])
    {'x': 1.0, 'y': 2.0}
    """
    parts = _split_top_level(text)
    named = ["=" in p for p in parts]
    if any(named) and not all(named):
        raise _UsageExit(f"--at {text!r} mixes name=value and bare values; use one style, e.g. x=1,y=2 or 1,2")
    if not any(named):
        if len(parts) != len(names):
            raise _UsageExit(f"--at {text!r} gives {len(parts)} value(s) but there are {len(names)} variable(s) "
                             f"({', '.join(names)}); give one value each, or use name=value")
        return {name: _value(p, name) for name, p in zip(names, parts)}
    point: dict[str, float] = {}
    for part in parts:
        name, _, raw = part.partition("=")
        name = name.strip()
        if name not in names:
            raise _UsageExit(f"unknown variable {name!r} in --at; the expression uses {', '.join(names)}")
        if name in point:
            raise _UsageExit(f"{name!r} is given twice in --at")
        point[name] = _value(raw.strip(), name)
    missing = [n for n in names if n not in point]
    if missing:
        raise _UsageExit(f"missing value for {', '.join(missing)} in --at; give a value for every variable")
    return {n: point[n] for n in names}


def interpret(value: Sequence[Sequence[float]], variables: Sequence[str], digits: int = 4) -> list[str]:
    """One sentence per variable saying how a small change of it moves each output.

    >>> interpret([[0.0, 1.0], [1.0, 0.0]], ["x", "y"])[0]
    'increasing x by a small dx does not affect f1 and changes f2 by 1 dx'
    """
    from .symbolic import format_number

    sentences = []
    for j, var in enumerate(variables):
        d = f"d{var}"
        lead = f"increasing {var} by a small {d}" if j == 0 else f"changing {var} by {d}"
        parts = []
        for i, row in enumerate(value):
            entry = float(row[j])
            if entry == 0:
                parts.append(f"does not affect f{i + 1}")
            else:
                parts.append(f"{'changes ' if not parts or parts[-1].startswith('does') else ''}f{i + 1} by "
                             f"{format_number(entry, digits)} {d}")
        if all(p.startswith("does") for p in parts):
            sentences.append(f"{lead} does not affect any output (to first order)")
            continue
        sentences.append(f"{lead} " + " and ".join(parts))
    return sentences


def _volume_verdict(sj, point: dict[str, float]) -> str:  # noqa: ANN001
    import jax
    import jax.numpy as jnp

    import jacx

    params = {p.name: point[p.name] for p in sj.parameters}
    with jax.enable_x64(True):
        x = jnp.asarray([point[v.name] for v in sj.variables], dtype=jnp.float64)
        return jacx.volume_change(sj.to_jax(params))(x).verdict


def _run_expression(args: argparse.Namespace, out: TextIO) -> int:
    import sympy

    from .symbolic import SymbolicJacobian, check_against_ad, format_number, matrix_latex, matrix_text

    sj = SymbolicJacobian(args.expressions, args.vars)
    names = [s.name for s in (*sj.variables, *sj.parameters)]
    det_expr = sj.det() if sj.is_square else None
    point = value = det_value = verdict = check = None
    if args.at is not None:
        if sj.parameters and "=" not in args.at:
            raise _UsageExit(f"the expression also has parameter(s) {', '.join(p.name for p in sj.parameters)}: "
                             "give the point as name=value pairs")
        point = parse_point(args.at, names)
        value = sj.at(point)
        if not all(math.isfinite(v) for v in value.reshape(-1)):
            bad = [f"d f{i + 1}/d {sj.variables[j]}" for i in range(sj.shape[0]) for j in range(sj.shape[1])
                   if not math.isfinite(value[i, j])]
            raise _UsageExit(f"the Jacobian is not defined at {args.at} ({', '.join(bad)} is not finite); "
                             "choose another point")
        check = check_against_ad(sj, point)
        if sj.is_square:
            det_value = sj.det_at(point)
            verdict = _volume_verdict(sj, point)
    variables = [v.name for v in sj.variables]
    if args.json:
        obj = {
            "variables": variables,
            "parameters": [p.name for p in sj.parameters],
            "outputs": [sympy.sstr(f) for f in sj.functions],
            "jacobian": [[sympy.sstr(e) for e in row] for row in sj.matrix.tolist()],
            "at": point,
            "value": None if value is None else value.tolist(),
            "det": (None if det_expr is None else det_value if point is not None else sympy.sstr(det_expr)),
            "det_symbolic": None if det_expr is None else sympy.sstr(det_expr),
            "verdict": verdict,
            "ad_max_abs_diff": None if check is None else check.max_abs_diff,
        }
        out.write(json.dumps(obj) + "\n")
        return 0
    if args.latex:
        out.write(sj.functions_latex() + "\n" + sj.to_latex() + "\n")
        if det_expr is not None:
            out.write(f"\\det J = {sympy.latex(det_expr)}\n")
        if value is not None:
            out.write(matrix_latex(value, name="J(" + ", ".join(format_number(point[v]) for v in variables) + ")")
                      + "\n")
        return 0
    out.write(sj.functions_text() + "\n\nJacobian J (rows: outputs, columns: variables):\n" + sj.to_text() + "\n")
    if det_expr is not None:
        out.write(f"det J = {sympy.sstr(det_expr)}\n")
    if value is not None and point is not None:
        where = ", ".join(f"{n} = {format_number(point[n])}" for n in names)
        out.write(f"\nAt {where}:\n{matrix_text(value, sj.variables)}\n")
        if det_value is not None:
            out.write(f"det J = {format_number(det_value)}\nvolume: {verdict}\n")
        out.write("\nReading it:\n" + "".join(f"  {s}\n" for s in interpret(value, variables)))
        out.write(f"\nCheck: {check}\n")
    return 0


def _dispatch(name: str, argv: list[str]) -> int:
    module_name = SUBCOMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise _UsageExit(f"the '{name}' command is not available in this installation of jacx "
                             f"(module {module_name} is missing)") from None
        raise
    cli_main = getattr(module, "cli_main", None)
    if not callable(cli_main):
        raise _UsageExit(f"the '{name}' command is not available: {module_name} has no cli_main(argv)")
    return int(cli_main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jacx`` command; returns the exit status (0 success, 2 bad input).

    >>> main(["x*y, x + y", "--at", "x=2,y=3", "--json"])  # doctest: +ELLIPSIS
    {"variables": ["x", "y"], ..., "jacobian": [["y", "x"], ["1", "1"]], ..., "value": [[3.0, 2.0], [1.0, 1.0]], ...}
    0
    """
    from ._errors import JacxUsageError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv:
            from ._tutorial import run_tutorial

            return run_tutorial(sys.stdout)
        if argv[0] in SUBCOMMANDS:
            return _dispatch(argv[0], argv[1:])
        try:
            args = _build_parser().parse_args(_normalise_argv(argv))
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        return _run_expression(args, sys.stdout)
    except (_UsageExit, JacxUsageError) as exc:
        message = " ".join(str(exc).split())
        print(f"jacx: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
