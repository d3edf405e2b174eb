"""Misbehaving peers on loopback, for the tests of hostile input and slow servers: an HTTP
server answering fixed bytes, one that trickles its answer, and a TCP server that accepts
connections and never says a word (a database that hangs)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, name="loopback HTTP", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# (request headers, request body) -> (status, response body)
Answer = Callable[[dict[str, str], bytes], tuple[int, bytes]]


@contextlib.contextmanager
def raw_http(body: bytes | Answer, status: int = 200) -> Iterator[str]:
    """Answers every POST with `body`, byte for byte; or, when `body` is a function of the
    request's headers and body, with the (status, body) it returns."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            request = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if callable(body):
                code, content = body(dict(self.headers.items()), request)
            else:
                code, content = status, body
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args) -> None:
            pass

    with _serving(Handler) as (url, _):
        yield url


@contextlib.contextmanager
def trickling_http(byte_every_seconds: float) -> Iterator[tuple[str, list[float]]]:
    """Answers every POST 200 with a long JSON body, one byte every `byte_every_seconds`:
    never silent long enough for a read timeout, never done. Yields (URL, the monotonic times
    requests arrived)."""
    arrivals: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            arrivals.append(time.monotonic())
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"resultado":[' + b" " * 1_000_000 + b"]}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for byte in body:
                    if self.server.stopping.wait(byte_every_seconds):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except OSError:  # the client gave up: what it should do
                return

        def log_message(self, *args) -> None:
            pass

    with _serving(Handler) as (url, _):
        yield url, arrivals


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A TCP port that accepts connections and never sends or reads a byte; yields the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(connection)

    thread = threading.Thread(target=accept, name="black hole", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        thread.join(timeout=10)
        for connection in accepted:
            connection.close()
        listener.close()
