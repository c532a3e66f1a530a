"""What every ``jacx`` command shares: a parser whose errors are one line, bounded number types for its options,
output files written atomically, and a Ctrl-C that ends the command with one line instead of a traceback."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, final

from ._errors import JacxUsageError

__all__ = [
    "CommandLineError",
    "OneLineParser",
    "add_output_option",
    "OrderedPair",
    "bounded_float",
    "bounded_int",
    "interrupt_guard",
    "positive_finite_float",
    "prepare_output_file",
    "prepare_output_folder",
    "save_figure",
]

INTERRUPTED_STATUS = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""


@final
class CommandLineError(JacxUsageError):
    """Bad command-line input; each ``jacx`` command prints it as one line on stderr and exits with status 2."""


@final
class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors raise :class:`CommandLineError` (naming the command's ``--help``)
    instead of printing a usage block and exiting.

    >>> parser = OneLineParser(prog="jacx demo")
    >>> _ = parser.add_argument("name")
    >>> try:
    ...     parser.parse_args([])
    ... except CommandLineError as err:
    ...     print(err)
    the following arguments are required: name (see jacx demo --help)
    """

    def __init__(self, *args: Any, expression: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._expression = expression

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(f"{message} (see {self.prog} --help)")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # noqa: D102
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            hint = self._quote_hint(list(sys.argv[1:] if args is None else args), extras)
            if hint:
                raise CommandLineError(f"unrecognized arguments: {' '.join(a.strip() for a in extras)}; {hint}")
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _quote_hint(self, argv: list[str], extras: list[str]) -> str | None:
        """For a parser built with ``expression="dest"``: when the words left over look like the rest of an
        expression the shell split at its spaces (none is an option), the command again with the expression in
        quotes and the options as they were given."""
        if self._expression is None or any(e.strip().startswith("--") for e in extras):
            return None
        takes: dict[str, int] = {}
        for action in self._actions:
            count = 0 if action.nargs == 0 else action.nargs if isinstance(action.nargs, int) else 1
            takes.update({flag: count for flag in action.option_strings})
        words, options, i = [], [], 0
        while i < len(argv):
            arg = argv[i]
            if arg in takes:
                options += argv[i : i + 1 + takes[arg]]
                i += 1 + takes[arg]
                continue
            if arg.split("=", 1)[0] in takes and arg.startswith("--"):
                options.append(arg)
            else:
                words.append(arg.strip())
            i += 1
        expression = " ".join(w for w in words if w)
        if not expression or '"' in expression:
            return None
        shown = " ".join(shlex.quote(o.strip()) for o in options)
        return f'put the expression in quotes: {self.prog} "{expression}"' + (f" {shown}" if shown else "")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:  # noqa: D102
        # argparse reads '-1e6' or '-inf' as an unknown option; a leading space makes such numbers plain values
        if args is not None:
            args = [f" {a}" if isinstance(a, str) and _is_negative_number(a) else a for a in args]
        return super().parse_known_args(args, namespace)


def _is_negative_number(text: str) -> bool:
    if not text.startswith("-") or text == "-":
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def add_output_option(parser: argparse.ArgumentParser, *, default: str | None, help: str,
                      old_spellings: tuple[str, ...] = ()) -> argparse.Action:
    """Add ``-o/--output`` (stored as ``output``), the one name every ``jacx`` command uses for where its files go.
    ``old_spellings`` (such as ``--out``) keep working but are not shown in ``--help``.

    >>> parser = OneLineParser(prog="jacx x")
    >>> _ = add_output_option(parser, default="a.png", help="image file to write", old_spellings=("--out",))
    >>> [parser.parse_args(argv).output for argv in ([], ["-o", "b.png"], ["--output", "c.png"], ["--out", "d.png"])]
    ['a.png', 'b.png', 'c.png', 'd.png']
    >>> "--out " in parser.format_help()
    False
    """
    action = parser.add_argument("-o", "--output", default=default, metavar="PATH", help=help)
    if old_spellings:
        parser.add_argument(*old_spellings, dest="output", metavar="PATH", default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS)
    return action


# ---------------------------------------------------------------------------------------------------------------
# bounded numbers for ``type=``


def _number_text(value: float) -> str:
    """Short and copyable: 2, 0.002, 1e6, -1e-5."""
    if isinstance(value, int):
        return str(value)
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", f"{value:g}")


def _complaint(text: str, problem: str, allowed: str, note: str, example: Any) -> argparse.ArgumentTypeError:
    why = f" ({note})" if note else ""
    fix = f"give one in that range, e.g. {example}" if example is not None else "give one in that range"
    shown = text.strip()
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return argparse.ArgumentTypeError(f"received {shown!r}, which {problem}; expected {allowed}{why}: {fix}")


def bounded_int(lo: int, hi: int, *, note: str = "", example: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` accepting whole numbers from ``lo`` to ``hi`` written in digits; anything else (a
    float such as ``1e8``, an expression such as ``2**70``, a value out of range) is refused with a message saying
    what was received, what is allowed (and ``note``, why), and how to fix it.

    >>> parser = OneLineParser(prog="jacx x")
    >>> _ = parser.add_argument("--size", type=bounded_int(2, 700, note="larger grids do not fit", example=32))
    >>> parser.parse_args(["--size", "48"]).size
    48
    >>> for bad in ("0", "1e8", "2**70"):
    ...     try:
    ...         parser.parse_args(["--size", bad])
    ...     except CommandLineError as err:
    ...         print(err)
    argument --size: received '0', which is below the minimum; expected a whole number from 2 to 700 (larger grids
    do not fit): give one in that range, e.g. 32 (see jacx x --help)
    argument --size: received '1e8', which is not a whole number written in digits; expected a whole number from 2
    to 700 (larger grids do not fit): give one in that range, e.g. 32 (see jacx x --help)
    argument --size: received '2**70', which is not a number; expected a whole number from 2 to 700 (larger grids
    do not fit): give one in that range, e.g. 32 (see jacx x --help)
    """
    if lo > hi:
        raise ValueError(f"bounded_int: lo={lo} > hi={hi}")
    allowed = f"a whole number from {_number_text(lo)} to {_number_text(hi)}"

    def whole_number(text: str) -> int:
        s = text.strip()
        try:
            value = int(s)
        except ValueError:
            if s.lstrip("+-").isdigit():  # digits, but too many for int(): far out of range
                raise _complaint(text, "is far out of range", allowed, note, example) from None
            try:
                float(s)
            except ValueError:
                raise _complaint(text, "is not a number", allowed, note, example) from None
            raise _complaint(text, "is not a whole number written in digits", allowed, note, example) from None
        if value < lo:
            raise _complaint(text, "is below the minimum", allowed, note, example)
        if value > hi:
            raise _complaint(text, "is above the maximum", allowed, note, example)
        return value

    whole_number.__name__ = "whole number"
    return whole_number


def bounded_float(
    lo: float, hi: float, *, lo_open: bool = False, note: str = "", example: float | None = None
) -> Callable[[str], float]:
    """An argparse ``type=`` accepting finite numbers in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); ``inf``,
    ``nan`` and values out of range are refused with a message saying what is allowed and how to fix it.

    >>> parser = OneLineParser(prog="jacx x")
    >>> _ = parser.add_argument("--scale", type=bounded_float(-10, 10))
    >>> parser.parse_args(["--scale", "-2.5"]).scale
    -2.5
    >>> try:
    ...     parser.parse_args(["--scale", "inf"])
    ... except CommandLineError as err:
    ...     print(err)
    argument --scale: received 'inf', which is not a finite number; expected a number from -10 to 10: give one in
    that range (see jacx x --help)
    """
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounded_float: expected finite lo < hi, got {lo}, {hi}")
    if lo_open:
        allowed = f"a number greater than {_number_text(lo)} and at most {_number_text(hi)}"
    else:
        allowed = f"a number from {_number_text(lo)} to {_number_text(hi)}"

    def finite_number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _complaint(text, "is not a number", allowed, note, example) from None
        if not math.isfinite(value):
            raise _complaint(text, "is not a finite number", allowed, note, example)
        if value < lo or (lo_open and value == lo):
            raise _complaint(text, "is too small", allowed, note, example)
        if value > hi:
            raise _complaint(text, "is too large", allowed, note, example)
        return value

    finite_number.__name__ = "number"
    return finite_number


def positive_finite_float(hi: float, *, note: str = "", example: float | None = None) -> Callable[[str], float]:
    """:func:`bounded_float` for numbers greater than 0 and at most ``hi``, such as a learning rate.

    >>> parser = OneLineParser(prog="jacx x")
    >>> _ = parser.add_argument("--rate", type=positive_finite_float(1.0, example=0.002))
    >>> try:
    ...     parser.parse_args(["--rate", "0"])
    ... except CommandLineError as err:
    ...     print(err)
    argument --rate: received '0', which is too small; expected a number greater than 0 and at most 1: give one in
    that range, e.g. 0.002 (see jacx x --help)
    """
    return bounded_float(0.0, hi, lo_open=True, note=note, example=example)


class OrderedPair(argparse.Action):
    """An argparse action for ``nargs=2`` options such as ``--xlim LOW HIGH``: refuses ``LOW >= HIGH`` in one line
    and stores a tuple.  Combine it with a ``type=`` from :func:`bounded_float` for finiteness and range.

    >>> parser = OneLineParser(prog="jacx x")
    >>> _ = parser.add_argument("--xlim", nargs=2, type=bounded_float(-100, 100), action=OrderedPair)
    >>> parser.parse_args(["--xlim", "-1", "3"]).xlim
    (-1.0, 3.0)
    >>> try:
    ...     parser.parse_args(["--xlim", "3", "-1"])
    ... except CommandLineError as err:
    ...     print(err)
    argument --xlim: received 3 -1; expected two finite numbers with low < high: give the lower end first, e.g.
    --xlim -1 3 (see jacx x --help)
    """

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        low, high = values
        if not low < high:
            example = (high, low) if high < low else (low, low + 1)
            fix = f"e.g. {option_string} {example[0]:g} {example[1]:g}"
            raise argparse.ArgumentError(
                self, f"received {low:g} {high:g}; expected two finite numbers with low < high: give the lower end "
                f"first, {fix}")
        setattr(namespace, self.dest, (low, high))


# ---------------------------------------------------------------------------------------------------------------
# output files

_IN_PROGRESS: set[str] = set()
"""Files being written right now; an interrupt removes them so that no partial file is left behind."""


@contextlib.contextmanager
def _in_progress(path: str) -> Iterator[None]:
    _IN_PROGRESS.add(path)
    try:
        yield
    finally:
        _IN_PROGRESS.discard(path)


def _remove_in_progress() -> None:
    for path in list(_IN_PROGRESS):
        with contextlib.suppress(OSError):
            os.remove(path)
        _IN_PROGRESS.discard(path)


def _image_formats() -> dict[str, str]:
    from matplotlib.backend_bases import FigureCanvasBase

    return FigureCanvasBase.get_supported_filetypes()


def _check_folder(folder: str) -> None:
    """Create ``folder`` if needed and prove a file can be created in it (catches read-only and pseudo file
    systems such as /proc before any work is done)."""
    import tempfile

    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".jacx-write-test-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        reason = err.strerror or str(err)
        raise CommandLineError(f"cannot write into the folder {folder!r} (creating a file there failed: {reason}); "
                               "choose a folder you can write to") from None


def prepare_output_folder(folder: str) -> str:
    """Create ``folder`` (with its parents) if needed and check that files can be written in it; return it.  A
    folder that cannot be used becomes a one-line :class:`CommandLineError`, before any work is done.

    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> os.path.isdir(prepare_output_folder(os.path.join(root, "a", "b")))
    True
    >>> open(os.path.join(root, "file"), "w").close()
    >>> try:
    ...     prepare_output_folder(os.path.join(root, "file", "sub"))
    ... except CommandLineError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    cannot write into the folder '.../file/sub' (...); choose a folder you can write to
    """
    _check_folder(folder)
    return folder


def prepare_output_file(path: str, default_name: str = "figure.png") -> str:
    """The image file that ``path`` names, checked before any work is done: ``path`` itself; ``path/default_name``
    when ``path`` is an existing folder or ends in ``/``; ``path + ".png"`` when it has no extension (as matplotlib
    does).  Creates missing folders; an unknown image format or an unwritable folder becomes a one-line
    :class:`CommandLineError`.

    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> os.path.relpath(prepare_output_file(os.path.join(root, "new", "map")), root)
    'new/map.png'
    >>> os.path.relpath(prepare_output_file(root + os.sep, "map.png"), root)
    'map.png'
    >>> try:
    ...     prepare_output_file(os.path.join(root, "map.xyz"))
    ... except CommandLineError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    cannot write '.../map.xyz': the image format 'xyz' is unknown; use one of the extensions ..., png, ...
    """
    if not path:
        raise CommandLineError(f"received an empty output path; expected an image file name such as {default_name}")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        path = os.path.join(path, default_name)
    ext = os.path.splitext(path)[1][1:].lower()
    formats = _image_formats()
    if not ext:
        import matplotlib

        path = f"{path}.{matplotlib.rcParams['savefig.format']}"
    elif ext not in formats:
        raise CommandLineError(f"cannot write {path!r}: the image format {ext!r} is unknown; use one of the "
                               f"extensions {', '.join(sorted(formats))}")
    _check_folder(os.path.dirname(path) or ".")
    return path


def save_figure(fig: Any, path: str, *, default_name: str = "figure.png", **kwargs: Any) -> str:
    """Save a matplotlib figure to the file :func:`prepare_output_file` makes of ``path`` and return that file's
    name.  The figure is written to a hidden temporary file next to it and renamed into place, so an interrupted
    or failed save never leaves a partial image.  A path that cannot be written becomes a
    :class:`CommandLineError` naming it (exit status 2), not a traceback.

    >>> import os, tempfile, matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> root = tempfile.mkdtemp()
    >>> written = save_figure(plt.figure(), os.path.join(root, "new", "folder", "fig"))
    >>> os.path.relpath(written, root), os.listdir(os.path.join(root, "new", "folder"))
    ('new/folder/fig.png', ['fig.png'])
    """
    target = prepare_output_file(path, default_name)
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.partial")
    fmt = os.path.splitext(target)[1][1:].lower()
    with _in_progress(temporary):
        try:
            fig.savefig(temporary, format=fmt, **kwargs)
            os.replace(temporary, target)
        except (OSError, ValueError) as err:
            raise CommandLineError(f"could not write {target!r}: {err}") from None
        finally:
            with contextlib.suppress(OSError):
                os.remove(temporary)
    return target


# ---------------------------------------------------------------------------------------------------------------
# Ctrl-C


def _is_the_jacx_program() -> bool:
    """Whether this process is the ``jacx`` program (the console script or ``python -m jacx...``), as opposed to
    Python code (a test, a notebook) calling a ``cli_main`` in-process."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and (spec.name == "jacx" or spec.name.startswith("jacx.")):
        return True
    cli = sys.modules.get("jacx._cli")
    return cli is not None and getattr(main, "main", None) is getattr(cli, "main", object())


@contextlib.contextmanager
def interrupt_guard(prog: str, *, exit_process: bool | None = None) -> Iterator[None]:
    """Make Ctrl-C (SIGINT) inside the block end a command cleanly; restores the previous handler afterwards.

    Files being written by :func:`save_figure` are removed first.  Then, when this process is the ``jacx``
    program (``exit_process=None`` detects it; ``True``/``False`` forces it), one line ``"<prog>: interrupted"``
    goes to stderr and the process ends at once with status 130 via ``os._exit``: unwinding a
    ``KeyboardInterrupt`` through JAX's compiler printed long tracebacks and sometimes crashed.  In-process callers
    (tests, notebooks) get the usual ``KeyboardInterrupt`` instead, so they are never killed.  Outside the main
    thread (where signal handlers cannot be set) the block runs unguarded.

    >>> import os, signal
    >>> before = signal.getsignal(signal.SIGINT)
    >>> try:
    ...     with interrupt_guard("jacx demo", exit_process=False):
    ...         os.kill(os.getpid(), signal.SIGINT)
    ... except KeyboardInterrupt:
    ...     print("interrupted; previous handler back:", signal.getsignal(signal.SIGINT) is before)
    interrupted; previous handler back: True
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hard = _is_the_jacx_program() if exit_process is None else exit_process

    def on_interrupt(signum: int, frame: Any) -> None:
        _remove_in_progress()
        if not hard:
            raise KeyboardInterrupt
        with contextlib.suppress(Exception):  # keep what was printed before; a reentrant flush may fail
            sys.stdout.flush()
        newline = "\n" if _isatty(2) else ""  # after the terminal's ^C or a progress bar
        os.write(2, f"{newline}{prog}: interrupted\n".encode())
        os._exit(INTERRUPTED_STATUS)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
