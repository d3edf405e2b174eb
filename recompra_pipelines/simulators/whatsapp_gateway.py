"""A local internal WhatsApp gateway: ``POST /messages/send`` on loopback.

It checks the request the way the gateway's contract states it — ``Authorization: Bearer
<secret>``, a JSON body of exactly ``sessionId``, ``to``, ``content`` and ``clientMessageId``,
a known session, ``to`` as international digits, text content or a media content with its URL
and file name — and answers ``{"success", "queued", "jobId", "clientMessageId", "error"}``.
Faults are injected on demand (``Fault`` from the Cloud API simulator: ``error`` answers
``success: false``, ``http`` a bare status, ``slow`` and ``timeout`` answer late, the latter
after accepting the message). Every request and accepted message is recorded for tests.

``recompra simulate whatsapp-gateway --port N`` serves it, accepting any session, with the
secret of ``--secret-env`` (default ``INTERNAL_WHATSAPP_GATEWAY_API_SECRET``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recompra_pipelines.messaging.gateway import SEND_PATH
from recompra_pipelines.simulators.serving import serve_in_thread
from recompra_pipelines.simulators.whatsapp import Fault

log = logging.getLogger(__name__)

DEFAULT_SECRET_ENV = "INTERNAL_WHATSAPP_GATEWAY_API_SECRET"
_KEYS = {"sessionId", "to", "content", "clientMessageId"}
_TO = re.compile(r"^[1-9][0-9]{7,14}$")
_MEDIA = {"image", "video", "document"}


class _Refused(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


class GatewaySimulator:
    def __init__(self, *, secret: str, accept_any_session: bool = False) -> None:
        self._secret = secret
        self.accept_any_session = accept_any_session
        self._sessions: set[str] = set()
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []

    def register_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.add(session_id)

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.messages.clear()
            self.requests.clear()

    def handle(self, authorization: str | None, raw: bytes) -> tuple[int, dict[str, Any], float]:
        """(HTTP status, JSON body, delay before answering)."""
        with self._lock:
            try:
                self._authorize(authorization)
                fault = self._faults.popleft() if self._faults else None
                if fault and fault.kind == "http":
                    raise _Refused(fault.status or 503, "unavailable")
                if fault and fault.kind == "error":
                    raise _Refused(200, "session is not connected")
                body = self._validate(raw)
            except _Refused as refused:
                self.requests.append({"status": refused.status, "error": refused.error})
                return refused.status, {"success": False, "error": refused.error}, 0.0
            job = str(uuid.uuid4())
            self.messages.append({**body, "jobId": job})
            self.requests.append({"status": 200, "error": None})
        delay = fault.seconds if fault and fault.kind in ("slow", "timeout") else 0.0
        answer = {
            "success": True,
            "queued": True,
            "jobId": job,
            "clientMessageId": body["clientMessageId"],
        }
        return 200, answer, delay

    def _authorize(self, authorization: str | None) -> None:
        scheme, _, secret = (authorization or "").partition(" ")
        if scheme != "Bearer" or not secrets.compare_digest(secret.encode(), self._secret.encode()):
            raise _Refused(401, "unauthorized")

    def _validate(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Refused(400, "body is not JSON") from None
        if not isinstance(body, dict) or set(body) != _KEYS:
            raise _Refused(400, f"body must have exactly {sorted(_KEYS)}")
        session = body["sessionId"]
        if session not in self._sessions and not self.accept_any_session:
            raise _Refused(404, "session not found")
        if not isinstance(body["to"], str) or not _TO.match(body["to"]):
            raise _Refused(400, "to must be digits with the country code")
        if not isinstance(body["clientMessageId"], str) or not body["clientMessageId"]:
            raise _Refused(400, "clientMessageId is required")
        content = body["content"]
        kind = content.get("type") if isinstance(content, dict) else None
        if not isinstance(content.get("text") if kind else None, str) or not content["text"]:
            raise _Refused(400, "content.text is required")
        if kind == "text":
            if set(content) != {"type", "text"}:
                raise _Refused(400, "text content takes type and text only")
        elif kind in _MEDIA:
            url, name = content.get("mediaUrl"), content.get("mediaFileName")
            if not (isinstance(url, str) and url.startswith(("http://", "https://")) and name):
                raise _Refused(400, f"{kind} content needs mediaUrl and mediaFileName")
        else:
            raise _Refused(400, f"unknown content type {kind!r}")
        return body

    @contextlib.contextmanager
    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve from a background thread; yields the base URL (the connection's gateway_url)."""
        with serve_in_thread(
            create_app(self), name="WhatsApp gateway simulator", host=host, port=port
        ) as url:
            yield url


def create_app(simulator: GatewaySimulator) -> Starlette:
    async def send(request: Request) -> Response:
        status, body, delay = simulator.handle(
            request.headers.get("authorization"), await request.body()
        )
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse(body, status)

    return Starlette(routes=[Route(SEND_PATH, send, methods=["POST"])])


def serve(port: int, host: str, secret: str) -> None:
    """Run in the foreground (``recompra simulate whatsapp-gateway``)."""
    log.info("internal WhatsApp gateway simulator on http://%s:%s", host, port)
    simulator = GatewaySimulator(secret=secret, accept_any_session=True)
    uvicorn.run(create_app(simulator), host=host, port=port, access_log=False, log_level="info")
