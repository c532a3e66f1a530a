"""The argument parser shared by every ``jacx`` command: a bad argument becomes one line, not a usage block."""

from __future__ import annotations

import argparse
from typing import NoReturn, final

from ._errors import JacxUsageError

__all__ = ["CommandLineError", "OneLineParser"]


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
