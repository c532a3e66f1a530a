"""The explorer's web app (Starlette): one page, two static files and a small JSON API.

``GET /?token=T`` serves the page; ``GET /static/explore.js?token=T`` and ``/static/explore.css?token=T`` its code
and style.  The API takes ``POST`` requests with a JSON body and the token in the ``X-Jacx-Token`` header:

* ``/api/session`` -> the presets, the first map, point and view, and the limits;
* ``/api/grid`` ``{"map": M, "view": [xmin, xmax, ymin, ymax], "cells": n}`` -> the grid view;
* ``/api/point`` ``{"map": M, "a": [x, y], "h": h}`` -> the point view;

where ``M`` is ``{"expr": "x^2 + y, x*y"}`` or ``{"python": true}`` (the function given to ``jacx.explore``).
Every computation goes through one :class:`~jacx.explore._compute.Runner` (one at a time, time-limited); the
:class:`~jacx.explore._security.Guard` checks every request first.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._errors import JacxUsageError
from ._compute import (
    MAX_CELLS,
    MAX_TEXT,
    PRESETS,
    ExplorerBusyError,
    ExplorerInputError,
    ExplorerTimeoutError,
    PlaneMap,
    Runner,
    fold_summary,
    grid_view,
    map_from_text,
    point_view,
)
from ._security import MAX_BODY, Guard

__all__ = ["Session", "create_app"]

_STATIC = {"explore.js": "text/javascript; charset=utf-8", "explore.css": "text/css; charset=utf-8"}
DEFAULT_CELLS = 24
"""Grid cells a side when the page opens."""
DEFAULT_H = 0.25
"""Size h of the circle and square when the page opens."""


@final
@dataclass
class Session:
    """What one running explorer knows: its token, its first map and point, and an optional Python function."""

    token: str
    port: int | None = None
    text: str | None = None
    function: PlaneMap | None = None
    point: tuple[float, float] | None = None
    view: tuple[float, float, float, float] | None = None
    frame_ancestors: tuple[str, ...] = ()
    runner: Runner = field(default_factory=Runner)

    def initial(self) -> dict[str, Any]:
        """The map, point and view the page starts with."""
        preset = PRESETS[0]
        if self.function is not None:
            source: dict[str, Any] = {"python": True}
        else:
            source = {"expr": self.text or preset.text}
        default_view = preset.view if self.text is None and self.function is None else (-2.0, 2.0, -2.0, 2.0)
        default_point = preset.point if self.text is None and self.function is None else (0.5, 0.5)
        return {"map": source, "point": list(self.point or default_point), "view": list(self.view or default_view),
                "cells": DEFAULT_CELLS, "h": DEFAULT_H}

    def warm_up(self) -> None:
        """Compute the first view once, so that the page's first requests find its programs compiled."""
        init = self.initial()
        try:
            self.runner.run(_grid, self, {"map": init["map"], "view": init["view"], "cells": init["cells"]})
            self.runner.run(_point, self, {"map": init["map"], "a": init["point"], "h": init["h"]})
        except JacxUsageError:
            pass  # e.g. a first point outside the map's domain: the page will say so

    def resolve(self, source: Any) -> PlaneMap:
        """The map a request names."""
        if not isinstance(source, dict) or len(source) != 1:
            raise ExplorerInputError('the map must be {"expr": "..."} or {"python": true}.')
        if "expr" in source:
            return map_from_text(source["expr"])
        if source.get("python") is True and self.function is not None:
            return self.function
        raise ExplorerInputError("no Python function was given to this explorer; type an expression instead.")


def _page(token: str) -> bytes:
    html = resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8")
    return html.replace("__TOKEN__", token).encode()  # the token is URL-safe: nothing to escape


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath(f"static/{name}").read_bytes()


class _BadRequest(ExplorerInputError):
    """The request body is not the JSON object the API expects (answered with status 400)."""


def _strict_json(body: bytes) -> dict[str, Any]:
    def no_constant(name: str) -> Any:
        raise _BadRequest(f"{name} is not allowed in the JSON body; send finite numbers.")

    try:
        data = json.loads(body.decode("utf-8"), parse_constant=no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _BadRequest(f"the body is not valid JSON ({type(exc).__name__}).") from None
    if not isinstance(data, dict):
        raise _BadRequest("the body must be a JSON object.")
    return data


def _fields(data: dict[str, Any], required: set[str]) -> None:
    unknown = set(data) - required
    missing = required - set(data)
    if unknown or missing:
        raise _BadRequest(f"expected the fields {sorted(required)}; missing {sorted(missing)}, unknown "
                                 f"{sorted(unknown)[:5]}.")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def create_app(session: Session) -> Guard:
    """The ASGI app for ``session``, wrapped in its :class:`~jacx.explore._security.Guard` (set ``guard.port``
    once the socket is bound).

    >>> guard = create_app(Session(token="t" * 43, port=8000))
    >>> sorted(guard.allowed_hosts())
    ['127.0.0.1:8000', 'localhost:8000']
    """
    page = _page(session.token)
    static = {name: _static(name) for name in _STATIC}

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in static:
            return _error(404, "not found")
        return Response(static[name], media_type=_STATIC[name])

    async def api(request: Request) -> Response:
        what = request.path_params["what"]
        try:
            body = await request.body()
            if len(body) > MAX_BODY:
                return _error(413, f"the request body is larger than {MAX_BODY} bytes")
            data = _strict_json(body)
            if what == "session":
                _fields(data, set())
                return JSONResponse({"presets": [p.as_json() for p in PRESETS], "initial": session.initial(),
                                     "python": None if session.function is None else session.function.label,
                                     "limits": {"text": MAX_TEXT, "cells": MAX_CELLS}})
            if what == "grid":
                _fields(data, {"map", "view", "cells"})
                work = _grid
            elif what == "point":
                _fields(data, {"map", "a", "h"})
                work = _point
            else:
                return _error(404, "not found")
            # waiting for the runner (its turn, then the result) blocks: never on the event loop
            return JSONResponse(await asyncio.to_thread(session.runner.run, work, session, data))
        except _BadRequest as exc:
            return _error(400, str(exc))
        except (ExplorerBusyError, ExplorerTimeoutError) as exc:
            return _error(503, str(exc))
        except JacxUsageError as exc:
            return _error(422, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: say so in one line, never a traceback page
            return _error(500, f"internal error in the explorer (a bug in jacx; please report it): "
                               f"{type(exc).__name__}: {exc}")

    app = Starlette(routes=[
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", static_file, methods=["GET"]),
        Route("/api/{what}", api, methods=["POST"]),
    ])
    return Guard(app, token=session.token, port=session.port, frame_ancestors=session.frame_ancestors)


def _grid(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    grid = grid_view(session.resolve(data["map"]), data["view"], data["cells"])
    grid["fold_summary"] = fold_summary(grid)
    return grid


def _point(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    return point_view(session.resolve(data["map"]), data["a"], data["h"])
