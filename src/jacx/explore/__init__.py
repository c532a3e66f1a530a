"""An interactive Jacobian explorer in the browser: ``jacx explore`` or ``jacx.explore(f)``.

Type a map of the plane (or pass a Python function), drag a point, and see ``J(a)``, ``det J(a)``, the singular
values, a small circle and square against their linear approximation, the approximation's error as ``h``
shrinks, the fold where ``det J = 0``, and Python code that reproduces the numbers.  The page is served on
127.0.0.1 only, behind a per-session token; every number is computed by jacx in Python (see docs/explore.md).

The module itself is callable, so ``jacx.explore(f)`` and ``jacx.explore.explore(f)`` are the same call.

>>> import jacx
>>> ex = jacx.explore("x^2 - y^2, 2*x*y", open_browser=False, block=False)
>>> ex.url.startswith("http://127.0.0.1:")
True
>>> ex.stop()
"""

from __future__ import annotations

import sys
import types
import webbrowser
from collections.abc import Callable, Sequence
from typing import Any, final

from ._compute import (
    PRESETS,
    ExplorerBusyError,
    ExplorerInputError,
    ExplorerTimeoutError,
    map_from_function,
    map_from_text,
)

__all__ = ["explore", "Explorer", "ExplorerInputError", "ExplorerBusyError", "ExplorerTimeoutError", "PRESETS"]

NOTEBOOK_FRAME_ANCESTORS = ("http://localhost:*", "http://127.0.0.1:*", "https://localhost:*", "https://127.0.0.1:*")
"""Origins allowed to show the page in a frame when it is opened from a notebook (Jupyter on this machine)."""


@final
class Explorer:
    """A running explorer: its :attr:`url` (with the session's token), :attr:`port`, and :meth:`stop`."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self.url: str = server.url
        self.port: int = server.port

    def stop(self) -> None:
        """Stop the server and free its port."""
        self._server.close()
        if self in _running:
            _running.remove(self)

    def __repr__(self) -> str:
        return f"<jacx explorer at {self.url}>"


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # noqa: BLE001 - no IPython shell: not a notebook
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _interactive() -> bool:
    return bool(hasattr(sys, "ps1") or sys.flags.interactive) or "IPython" in sys.modules


def explore(
    f: Callable[..., Any] | str | None = None,
    *,
    point: Sequence[float] | None = None,
    view: Sequence[float] | None = None,
    port: int = 0,
    open_browser: bool = True,
    block: bool | None = None,
    frame_ancestors: Sequence[str] | None = None,
) -> Explorer:
    """Open the Jacobian explorer for ``f``: a Python function of the plane, an expression text, or nothing (the
    tutorial's examples).

    Args:
        f: ``f(v)`` with ``v = (x, y)`` of shape ``(2,)``, or ``f(x, y)``, written with ``jax.numpy`` and returning
            two numbers (a map of the plane) or one (a surface: the gradient view); or a text such as
            ``"x^2 - y^2, 2*x*y"`` read by jacx's whitelist parser; or ``None``.
        point: the first point ``(x, y)`` shown; view: ``(xmin, xmax, ymin, ymax)`` of the grid.
        port: the port on 127.0.0.1 (``0``: a free one).
        open_browser: open the page in the default browser (in a notebook the page is shown inline instead).
        block: serve until Ctrl-C before returning; by default only when run as a script (not in a notebook or
            an interactive session, where the server runs in the background until :meth:`Explorer.stop`).
        frame_ancestors: origins allowed to show the page in a frame; by default none, or the local Jupyter
            origins in a notebook.

    Returns:
        the running :class:`Explorer` (``.url``, ``.port``, ``.stop()``).

    Raises:
        ExplorerInputError: ``f`` is not a map of the plane with 1 or 2 outputs, or the point or view is invalid.
        UntraceableFunctionError: JAX cannot trace ``f`` (it calls NumPy on its input, for example).

    >>> import jax.numpy as jnp
    >>> ex = explore(lambda v: jnp.array([v[0] * jnp.cos(v[1]), v[0] * jnp.sin(v[1])]), open_browser=False,
    ...              block=False)
    >>> ex.port > 0
    True
    >>> ex.stop()
    """
    from ._app import Session
    from ._compute import check_point, check_view
    from ._security import new_token
    from ._server import ExplorerServer

    session = Session(token=new_token())
    if isinstance(f, str):
        map_from_text(f)  # refuse a bad expression here, in one line, before serving anything
        session.text = f
    elif f is not None:
        session.function = map_from_function(f)
    if point is not None:
        session.point = check_point(point)
    if view is not None:
        session.view = check_view(view)
    notebook = _in_notebook()
    if frame_ancestors is None:
        frame_ancestors = NOTEBOOK_FRAME_ANCESTORS if notebook else ()
    session.frame_ancestors = tuple(frame_ancestors)
    server = ExplorerServer(session, port=port).warm_up()
    if block is None:
        block = not _interactive()
    if block:
        print(server.url, flush=True)
        if open_browser:
            webbrowser.open(server.url, new=2)
        server.serve_forever()
        return Explorer(server)
    server.start()
    explorer = Explorer(server)
    _running.append(explorer)
    if notebook:
        from IPython.display import IFrame, display

        display(IFrame(server.url, width="100%", height=820))
    elif open_browser:
        webbrowser.open(server.url, new=2)
    return explorer


_running: list[Explorer] = []  # background explorers stay referenced until the process ends


@final
class _CallableModule(types.ModuleType):
    """This package as a module object that can also be called: ``jacx.explore(f)``."""

    def __call__(self, f: Callable[..., Any] | str | None = None, **kwargs: Any) -> Explorer:
        return explore(f, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
