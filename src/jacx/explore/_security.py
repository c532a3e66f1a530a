"""The explorer's guard: every request must come from its own page on this machine.

A server on ``127.0.0.1`` is reachable by any web page the user happens to visit (through the browser), so the
guard, an ASGI middleware in front of the whole app, refuses a request unless

* its ``Host`` is ``127.0.0.1:PORT`` or ``localhost:PORT`` (this defeats DNS rebinding);
* its ``Origin``, when present (and it must be for ``POST``), is ``http://127.0.0.1:PORT`` or
  ``http://localhost:PORT``, and ``Sec-Fetch-Site``, when present, says ``same-origin`` or ``none``;
* it carries the session's token: in the query (``?token=...``) for the page and its two static files, in the
  ``X-Jacx-Token`` header for the API (compared in constant time);
* it is a ``GET`` of the page or a static file, or a ``POST`` to ``/api/...`` with ``Content-Type:
  application/json`` and a declared body of at most :data:`MAX_BODY` bytes.

Every response, refusals included, carries a strict Content-Security-Policy (scripts and styles from the server
itself only, no inline code, nothing framed unless asked for), ``X-Content-Type-Options: nosniff``, no referrer,
no caching and no CORS headers.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, final
from urllib.parse import parse_qs

__all__ = ["Guard", "new_token", "security_headers", "MAX_BODY", "TOKEN_HEADER"]

MAX_BODY = 16 * 1024
"""Largest request body accepted, in bytes."""
TOKEN_HEADER = "x-jacx-token"
"""The header that carries the token on API requests."""
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,200}")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def new_token() -> str:
    """A fresh random session token (URL-safe, 256 bits).

    >>> len(new_token()) >= 43
    True
    """
    return secrets.token_urlsafe(32)


def security_headers(frame_ancestors: Sequence[str] = ()) -> list[tuple[bytes, bytes]]:
    """The headers put on every response. ``frame_ancestors``: origins allowed to show the page in a frame (a
    notebook); none by default.

    >>> dict(security_headers())[b"x-frame-options"]
    b'DENY'
    """
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    csp = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
           f"base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}")
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if not frame_ancestors:
        headers.append((b"x-frame-options", b"DENY"))
    return headers


_CORS = (b"access-control-",)


@final
class Guard:
    """ASGI middleware enforcing the explorer's request rules (see the module's description).

    ``port`` may be ``None`` until the socket is bound; then set :attr:`port`.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *, token: str, port: int | None,
                 frame_ancestors: Sequence[str] = ()) -> None:
        if not _TOKEN.fullmatch(token):
            raise ValueError("the explorer's token must be 20 to 200 URL-safe characters")
        self.app = app
        self.token = token
        self.port = port
        self.headers = security_headers(frame_ancestors)

    # -- the checks -------------------------------------------------------------------------------------------------
    def allowed_hosts(self) -> set[str]:
        """``127.0.0.1:PORT`` and ``localhost:PORT``."""
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def allowed_origins(self) -> set[str]:
        """``http://127.0.0.1:PORT`` and ``http://localhost:PORT``."""
        return {f"http://{h}" for h in self.allowed_hosts()}

    def _token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """``(status, reason)`` when the request must be refused, else ``None``."""
        if self.port is None:
            return 503, "the explorer is starting; try again in a moment"
        raw: dict[bytes, list[bytes]] = {}
        for name, value in scope.get("headers", []):
            raw.setdefault(name.lower(), []).append(value)
        for name in (b"host", b"origin", TOKEN_HEADER.encode(), b"content-type", b"content-length"):
            if len(raw.get(name, [])) > 1:
                return 400, f"the {name.decode()} header appears more than once"
        header = {k.decode("latin-1"): v[0].decode("latin-1") for k, v in raw.items()}
        if header.get("host") not in self.allowed_hosts():
            return 403, "wrong Host header: open the explorer at the URL it printed (http://127.0.0.1:PORT/...)"
        origin = header.get("origin")
        method = scope.get("method", "")
        if origin is not None and origin not in self.allowed_origins():
            return 403, "requests from other web pages are refused"
        fetch_site = header.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return 403, "requests from other web pages are refused"
        path = scope.get("path", "")
        if method == "GET" and (path == "/" or path.startswith("/static/")):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"), max_num_fields=8)
            tokens = query.get("token", [])
            if len(tokens) != 1 or not self._token_ok(tokens[0]):
                return 403, "missing or wrong token: open the full URL the explorer printed, with its ?token=..."
            return None
        if method == "POST" and path.startswith("/api/"):
            if origin is None:
                return 403, "API requests must come from the explorer's page (no Origin header)"
            if not self._token_ok(header.get(TOKEN_HEADER)):
                return 403, "missing or wrong X-Jacx-Token header"
            media = header.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json":
                return 415, "the API accepts JSON only (Content-Type: application/json)"
            length = header.get("content-length")
            if length is None or not length.isdigit():
                return 411, "the request must declare its Content-Length"
            if int(length) > MAX_BODY:
                return 413, f"the request body is larger than {MAX_BODY} bytes"
            return None
        if method not in ("GET", "POST"):
            return 405, f"method {method} is not allowed"
        return 404, "not found"

    # -- ASGI ---------------------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets and anything else: refused
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        problem = self.refusal(scope)
        if problem is not None:
            status, reason = problem
            body = json.dumps({"error": reason}).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()), *self.headers]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, self._limited(receive), self._secured(send))

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise _BodyTooLarge
            return message

        return limited

    def _secured(self, send: Send) -> Send:
        async def secured(message: Message) -> None:
            if message.get("type") == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not k.lower().startswith(_CORS) and k.lower() not in dict(self.headers)]
                message = {**message, "headers": headers + self.headers}
            await send(message)

        return secured


class _BodyTooLarge(Exception):
    """A body longer than its declared length (the HTTP layer normally stops this first)."""
