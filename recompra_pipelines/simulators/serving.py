"""Serving a simulator's ASGI app from a background thread, for tests and the demo."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

START_TIMEOUT_SECONDS = 15


@contextlib.contextmanager
def serve_in_thread(
    app: Starlette, *, name: str, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve `app` on host:port (0 picks a free port) and yield its base URL; stop on exit.

    The socket is bound before the server starts, so the URL is known and valid at once.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the {name} did not start")
        time.sleep(0.01)
    try:
        yield (
            f"http://[{host}]:{bound_port}"
            if family == socket.AF_INET6
            else f"http://{host}:{bound_port}"
        )
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_SECONDS)
        sock.close()
