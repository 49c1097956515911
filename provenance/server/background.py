"""An ASGI app served by uvicorn in a background thread on a free loopback port.

For ``provenance demo`` (its service act runs a ledger server and a witness beside the
commands it shows) and for tests: ``with BackgroundServer(app) as url: ...``. The port is
chosen by the operating system (port 0), so runs never collide.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Literal

import uvicorn

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """Serve ``app`` on ``127.0.0.1`` until the ``with`` block ends.

    Args:
        app: the ASGI application.
        lifespan: ``"on"`` to run the app's start-up and shut-down (a ledger server), ``"off"``
            for an app whose state another server already set up.
        start_timeout_s: how long to wait for the server to listen.
    """

    def __init__(
        self,
        app: Any,
        *,
        lifespan: Literal["on", "off"] = "on",
        start_timeout_s: float = 20.0,
    ) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan=lifespan,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="provenance-bg", daemon=True)
        self._timeout = start_timeout_s
        self.url = ""

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise RuntimeError("the background server did not start")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        return self.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=self._timeout)
