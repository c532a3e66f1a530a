"""The ``jacx`` command.

``jacx "x**2 + y, x*y" --at x=1,y=2`` prints a symbolic Jacobian, its value at a point, the determinant with its
volume verdict and a plain-words reading; ``jacx`` alone runs the tutorial walkthrough; ``jacx plot|flow|sparse|demo
...`` hand over to the other parts of jacx.  Bad input exits with status 2 and a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO, final

import numpy as np

from ._argparse import OneLineParser, interrupt_guard
from ._words import interpret, volume_verdict

__all__ = ["main", "SUBCOMMANDS", "parse_point", "interpret"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "plot": ("jacx.logdet._cli", "volume-change pictures"),
    "flow": ("jacx.flows._cli", "normalizing-flow training demo"),
    "sparse": ("jacx.sparse._cli", "sparse Jacobian demos and spy plots"),
    "demo": ("jacx._demos", "application demos: robotics, vision, implicit, robustness, backprop"),
    "explore": ("jacx.explore._cli", "interactive Jacobian explorer in the browser"),
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
        expression="expressions",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"jacx {__version__}",
                        help="print the version of jacx and exit")
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
    from .symbolic._domain import constant_value

    if not text:
        raise _UsageExit(f"missing value for {label} in --at; write e.g. --at x=1,y=2")
    exprs = parse_expressions(text)
    if len(exprs) != 1 or exprs[0].free_symbols:
        raise _UsageExit(f"the value {text!r} for {label} in --at must be a number (constants like pi are fine)")
    return constant_value(exprs[0], f"{label} in --at")


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


MAX_VARIABLES = 64
"""Most variables (and parameters) the command accepts."""
MAX_OUTPUTS = 64
"""Most outputs the command accepts."""
SYMBOLIC_DET_MAX_SIZE = 4
"""Largest n for which the command computes det J symbolically (beyond, only its value at a point)."""
SYMBOLIC_DET_MAX_NODES = 400
"""Largest total size (tree nodes) of the entries of J for which the command computes det J symbolically."""
TIME_BUDGET_S = 8.0
"""Seconds of work the command allows an expression before it gives up with a one-line message."""
MEMORY_BUDGET_MB = 700
"""Growth of resident memory (MiB) the command allows an expression before it gives up."""


def _tree_size(expr: object, limit: int) -> int:
    import sympy

    count = 0
    for _ in sympy.preorder_traversal(expr):
        count += 1
        if count > limit:
            break
    return count


def _symbolic_det(sj) -> tuple[object, str | None]:  # noqa: ANN001
    """The symbolic determinant when it is cheap, else ``None`` and a note saying why it was skipped."""
    n = sj.shape[0]
    if n > SYMBOLIC_DET_MAX_SIZE:
        return None, (f"not computed symbolically for a {n} x {n} Jacobian (only up to {SYMBOLIC_DET_MAX_SIZE} x "
                      f"{SYMBOLIC_DET_MAX_SIZE}, because the formula grows too fast); give --at for its value")
    if _tree_size(sj.matrix, SYMBOLIC_DET_MAX_NODES) > SYMBOLIC_DET_MAX_NODES:
        return None, ("not computed symbolically because the entries of J are too long (over "
                      f"{SYMBOLIC_DET_MAX_NODES} operations); give --at for its value")
    return sj.det(), None


def _check_name_count(text: str) -> None:
    """Refuse too many distinct names before parsing (parsing a product of 800 names alone takes seconds)."""
    from .symbolic import CONSTANTS, FUNCTIONS
    from .symbolic._tokens import _tokenize

    names = {t.text for t in _tokenize(text) if t.kind == "name"} - set(FUNCTIONS) - set(CONSTANTS)
    if len(names) > MAX_VARIABLES:
        raise _UsageExit(f"received {len(names)} variables and parameters; the command accepts at most "
                         f"{MAX_VARIABLES}. Use jacx.jacobian (automatic differentiation) in Python for larger "
                         "systems")


MAX_PRINTED_CHARS = 20000
"""Longest symbolic Jacobian (in characters) printed in full; longer ones are summarised (``--json`` has all)."""


def _run_expression(args: argparse.Namespace, out: TextIO, progress: dict[str, str] | None = None) -> int:
    import sympy

    from .symbolic import SymbolicJacobian, check_against_ad, format_number, matrix_latex, matrix_text
    from .symbolic import parse_expressions

    progress = {} if progress is None else progress
    progress["phase"] = "parsing"
    _check_name_count(args.expressions)
    exprs = parse_expressions(args.expressions)
    if len(exprs) > MAX_OUTPUTS:
        raise _UsageExit(f"received {len(exprs)} outputs; the command accepts at most {MAX_OUTPUTS}. Use "
                         "jacx.jacobian (automatic differentiation) in Python for larger systems")
    names_used = set().union(*(e.free_symbols for e in exprs))
    if len(names_used) > MAX_VARIABLES:
        raise _UsageExit(f"received {len(names_used)} variables and parameters; the command accepts at most "
                         f"{MAX_VARIABLES}. Use jacx.jacobian (automatic differentiation) in Python for larger "
                         "systems")
    progress["phase"] = "differentiating"
    sj = SymbolicJacobian(exprs, args.vars)
    names = [s.name for s in (*sj.variables, *sj.parameters)]
    det_expr, det_note = None, None
    if sj.is_square:
        progress["phase"] = "computing the symbolic determinant"
        det_expr, det_note = _symbolic_det(sj)
    point = F = value = det_value = verdict = check = None
    if args.at is not None:
        if sj.parameters and "=" not in args.at:
            raise _UsageExit(f"the expression also has parameter(s) {', '.join(p.name for p in sj.parameters)}: "
                             "give the point as name=value pairs")
        point = parse_point(args.at, names)
        progress["phase"] = "evaluating at the point"
        F = sj.value_at(point)
        value = sj.at(point)
        if not np.all(np.isfinite(value)):  # pragma: no cover - at() refuses such points
            raise _UsageExit(f"the Jacobian is not finite at {args.at}; choose another point")
        if sj.is_square:
            det_value, verdict = volume_verdict(value)
        progress["phase"] = "checking against automatic differentiation"
        check = check_against_ad(sj, point)
    progress["phase"] = "printing"
    variables = [v.name for v in sj.variables]
    if args.json:
        obj = {
            "variables": variables,
            "parameters": [p.name for p in sj.parameters],
            "outputs": [sympy.sstr(f) for f in sj.functions],
            "jacobian": [[sympy.sstr(e) for e in row] for row in sj.matrix.tolist()],
            "at": point,
            "F": None if F is None else F.tolist(),
            "value": None if value is None else value.tolist(),
            "det": (None if not sj.is_square else det_value if point is not None
                    else None if det_expr is None else sympy.sstr(det_expr)),
            "det_symbolic": None if det_expr is None else sympy.sstr(det_expr),
            "det_note": det_note,
            "verdict": verdict,
            "ad_max_abs_diff": None if check is None else check.max_abs_diff,
            "ad_explanation": None if check is None or check.ok else check.explanation,
        }
        out.write(json.dumps(obj) + "\n")
        return 0
    at_args = None if point is None else "(" + ", ".join(format_number(point[v]) for v in variables) + ")"
    if args.latex:
        out.write(sj.functions_latex() + "\n" + sj.to_latex() + "\n")
        if det_expr is not None:
            out.write(f"\\det J = {sympy.latex(det_expr)}\n")
        if value is not None:
            out.write(matrix_latex(np.asarray(F).reshape(-1, 1), name="F" + at_args) + "\n")
            out.write(matrix_latex(value, name="J" + at_args) + "\n")
        return 0
    text = sj.to_text()
    if len(text) > MAX_PRINTED_CHARS:
        text = (f"({sj.shape[0]} x {sj.shape[1]} entries, {len(text)} characters in all: too long to print here; "
                "--json gives every entry)")
    out.write(sj.functions_text() + "\n\nJacobian J (rows: outputs, columns: variables):\n" + text + "\n")
    if det_expr is not None:
        out.write(f"det J = {sympy.sstr(det_expr)}\n")
    elif det_note is not None:
        out.write(f"det J: {det_note}\n")
    if value is not None and point is not None:
        where = ", ".join(f"{n} = {format_number(point[n])}" for n in names)
        values = ", ".join(format_number(v) for v in F)
        out.write(f"\nAt {where}:\nF{at_args} = ({values})\nJ{at_args} =\n{matrix_text(value, sj.variables)}\n")
        if det_value is not None:
            out.write(f"det J = {format_number(det_value)}\nvolume: {verdict}\n")
        out.write("\nReading it:\n" + "".join(f"  {s}\n" for s in interpret(value, variables)))
        out.write(f"\nCheck: {check}\n")
    return 0


def _seconds_since_process_start() -> float:
    try:
        with open("/proc/self/stat") as fh:
            started = int(fh.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as fh:
            return max(0.0, float(fh.read().split()[0]) - started)
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return 0.0


def _resident_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None


def _run_with_budget(args: argparse.Namespace, standalone: bool) -> int:
    """Run one expression in a worker thread, printing its output only when it finishes within
    :data:`TIME_BUDGET_S` seconds and :data:`MEMORY_BUDGET_MB` of memory growth; otherwise one line, status 2.

    When ``standalone`` (the real ``jacx`` command) the process ends at once; called as a library function the
    worker thread is left to finish in the background."""
    buffer = io.StringIO()
    progress = {"phase": "starting"}
    result: dict[str, object] = {}

    def work() -> None:
        try:
            result["code"] = _run_expression(args, buffer, progress)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            result["error"] = exc

    start, base = time.monotonic(), _resident_mb()
    budget = TIME_BUDGET_S
    if standalone:  # count the start-up (Python, JAX) too, so that the whole command ends within about 10 s
        budget = max(2.0, TIME_BUDGET_S + 1.0 - _seconds_since_process_start())
    worker = threading.Thread(target=work, name="jacx-expression", daemon=True)
    worker.start()
    problem = None
    while worker.is_alive():
        worker.join(0.05)
        if not worker.is_alive():
            break
        if time.monotonic() - start > budget:
            problem = f"it needed more than {budget:.0f} s"
        now = _resident_mb()
        if base is not None and now is not None and now - base > MEMORY_BUDGET_MB:
            problem = f"it needed more than {MEMORY_BUDGET_MB} MiB of memory"
        if problem:
            message = (f"gave up on {_shorten(args.expressions)} while {progress['phase']}: {problem}. Simplify the "
                       "expression, use fewer outputs or variables, or use jacx.jacobian (automatic "
                       "differentiation) in Python")
            print(f"jacx: error: {message}", file=sys.stderr)
            if standalone:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(2)
            return 2
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    sys.stdout.write(buffer.getvalue())
    return int(result["code"])  # type: ignore[call-overload]


def _shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


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

    standalone = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # Ctrl-C anywhere in the command (loading a subcommand, the tutorial, an expression): one line, status 130
        with interrupt_guard("jacx", exit_process=True if standalone else None):
            if not argv:
                from ._tutorial import run_tutorial

                return run_tutorial(sys.stdout)
            if argv[0] in SUBCOMMANDS:
                return _dispatch(argv[0], argv[1:])
            try:
                args = _build_parser().parse_args(_normalise_argv(argv))
            except SystemExit as exc:  # --help
                return int(exc.code or 0)
            return _run_with_budget(args, standalone)
    except (_UsageExit, JacxUsageError) as exc:
        message = " ".join(str(exc).split())
        print(f"jacx: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
