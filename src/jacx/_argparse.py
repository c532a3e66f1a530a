"""The argument parser shared by every ``jacx`` command: a bad argument becomes one line, not a usage block."""

from __future__ import annotations

import argparse
import os
from typing import Any, NoReturn, final

from ._errors import JacxUsageError

__all__ = ["CommandLineError", "OneLineParser", "save_figure"]


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

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(f"{message} (see {self.prog} --help)")


def save_figure(fig: Any, path: str, **kwargs: Any) -> None:
    """Save a matplotlib figure to ``path``, creating missing folders; a path that cannot be written becomes a
    :class:`CommandLineError` naming it (exit status 2), not a traceback.

    >>> import os, tempfile, matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> target = os.path.join(tempfile.mkdtemp(), "new", "folder", "fig.png")
    >>> save_figure(plt.figure(), target)
    >>> os.path.exists(target)
    True
    """
    try:
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        fig.savefig(path, **kwargs)
    except (OSError, ValueError) as err:
        raise CommandLineError(f"could not write {path!r}: {err}") from None
