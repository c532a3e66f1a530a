"""``jacx explore``: start the explorer and open it in the browser (or print its URL)."""

from __future__ import annotations

import argparse
import sys
import webbrowser

from .._argparse import CommandLineError, OneLineParser, bounded_int

__all__ = ["cli_main"]

_EPILOG = """\
examples:
  jacx explore                          the tutorial's worked example (others in the page's preset menu)
  jacx explore "x^2 - y^2, 2*x*y"       a map of the plane
  jacx explore "x^2*y + sin(y)"         one output: the gradient view
  jacx explore --no-browser --port 8765 print the URL instead of opening a browser

The server listens on 127.0.0.1 only and answers only requests that carry the session's token (in the URL
printed). Press Ctrl-C to stop it."""


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="jacx explore", description="An interactive Jacobian explorer in the browser.",
                           epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("expression", nargs="?", default=None,
                        help='a map of the plane in x and y: "f1, f2" (or one output "f"); quote it')
    parser.add_argument("--port", type=bounded_int(0, 65535, note="0 picks a free port", example=8765), default=0,
                        help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open a browser; only print the URL (with its token) on stdout")
    return parser


def cli_main(argv: list[str]) -> int:
    """Run ``jacx explore ARGS``; returns the exit status. Bad input raises a one-line
    :class:`~jacx.JacxUsageError` (the ``jacx`` command prints it and exits with status 2).

    >>> cli_main(["--help"])  # doctest: +ELLIPSIS
    usage: jacx explore [-h] [--port PORT] [--no-browser] [expression]
    ...
    0
    """
    argv = [f" {a}" if a.startswith("-") and a not in ("-h", "--help", "--no-browser") and not
            a.startswith("--port") else a for a in argv]  # an expression such as "-x, y" is not an option
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except CommandLineError as exc:
        if "unrecognized arguments" in str(exc):
            raise CommandLineError(f"{exc}; quote the expression as one argument, e.g. jacx explore "
                                   '"x^2 - y^2, 2*x*y"') from None
        raise
    from . import _compute
    from ._app import Session
    from ._security import new_token
    from ._server import ExplorerServer

    session = Session(token=new_token())
    if args.expression is not None:
        _compute.map_from_text(args.expression)  # a bad expression: one line now, not a broken page later
        session.text = args.expression.strip()
    server = ExplorerServer(session, port=args.port).warm_up()
    print(server.url, flush=True)
    if not args.no_browser:
        print("jacx explore: opening the page in your browser; press Ctrl-C to stop the server", file=sys.stderr)
        webbrowser.open(server.url, new=2)
    server.serve_forever()
    return 0
