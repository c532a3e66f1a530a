"""Running the explorer: a uvicorn server on a socket bound to 127.0.0.1, in the foreground or in a thread."""

from __future__ import annotations

import errno
import socket
import threading
import time
from typing import final

from .._errors import JacxUsageError
from ._app import Session, create_app

__all__ = ["ExplorerServer", "PortInUseError", "missing_dependencies"]

HOST = "127.0.0.1"
"""The only address the explorer listens on."""


class PortInUseError(JacxUsageError, OSError):
    """The port asked for is taken (or not allowed)."""


def missing_dependencies() -> list[str]:
    """The server packages that are not installed (``starlette``, ``uvicorn``), as pip names.

    >>> missing_dependencies()
    []
    """
    import importlib.util

    return [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]


def bind(port: int = 0) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (``port=0``: a free port chosen by the system).

    >>> s = bind()
    >>> s.getsockname()[0]
    '127.0.0.1'
    >>> s.close()
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise PortInUseError(f"port must be a whole number from 0 to 65535 (0: a free one), got {port!r}.")
    # proto=IPPROTO_TCP: asyncio then sets TCP_NODELAY on each connection (with proto 0 it does not, and Nagle's
    # algorithm held each response body ~40 ms for the ACK of its headers)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "is in use" if exc.errno == errno.EADDRINUSE else "needs privileges"
            raise PortInUseError(f"port {port} {why}; choose another with --port (or port=), or leave it out for a "
                                 "free one.") from None
        raise
    return sock


@final
class ExplorerServer:
    """One explorer: its session, its socket on 127.0.0.1 and the uvicorn server that answers on it.

    >>> from jacx.explore._security import new_token
    >>> server = ExplorerServer(Session(token=new_token()))
    >>> server.url.startswith("http://127.0.0.1:") and "/?token=" in server.url
    True
    >>> server.close()
    """

    def __init__(self, session: Session, port: int = 0) -> None:
        missing = missing_dependencies()
        if missing:
            raise JacxUsageError(f"the explorer needs {' and '.join(missing)}: pip install 'jacx[explore]'.")
        import uvicorn

        self.session = session
        self.socket = bind(port)
        self.port: int = self.socket.getsockname()[1]
        session.port = self.port
        self.app = create_app(session)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", ws="none",
                                proxy_headers=False, server_header=False, timeout_keep_alive=5,
                                limit_concurrency=64, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address, with the session's token."""
        return f"http://{HOST}:{self.port}/?token={self.session.token}"

    def warm_up(self) -> ExplorerServer:
        """Compute the first view once (compiling its programs), so that the page is interactive at once."""
        self.session.warm_up()
        return self

    def serve_forever(self) -> None:
        """Answer requests in this thread until interrupted (Ctrl-C)."""
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.socket.close()

    def start(self, timeout: float = 10.0) -> ExplorerServer:
        """Answer requests in a background thread; returns once the server is listening."""
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name=f"jacx-explore-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise JacxUsageError(f"the explorer's server did not start on port {self.port}.")
            time.sleep(0.01)
        return self

    def close(self) -> None:
        """Stop the server (if started) and release the port."""
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.socket.close()
