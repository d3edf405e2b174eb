"""A loopback alert inbox: a Slack-compatible incoming webhook and an SMTP sink.

`POST /webhook` takes what Slack's incoming webhooks take (`{"text": ...}`) and keeps it;
`GET /alerts` lists what arrived. The SMTP sink accepts plain SMTP (no TLS, no auth) and
keeps each message. The demo points its alerts here; tests read what a person would receive.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recompra_pipelines.simulators.serving import serve_in_thread


@dataclass
class AlertInbox:
    """What arrived, in order: webhook payloads and e-mails (subject, recipients, body)."""

    webhook: list[dict] = field(default_factory=list)
    mail: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def texts(self) -> list[str]:
        with self._lock:
            return [message.get("text", "") for message in self.webhook]

    def receive_mail(self, sender: str, recipients: list[str], data: bytes) -> None:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        with self._lock:
            self.mail.append(
                {
                    "from": sender,
                    "to": recipients,
                    "subject": str(parsed["subject"]),
                    "body": parsed.get_content() if not parsed.is_multipart() else "",
                    "at": datetime.now(UTC).isoformat(),
                }
            )

    @contextlib.contextmanager
    def webhook_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve the webhook; yields its URL (what RECOMPRA_ALERT_WEBHOOK_URL points at)."""
        with serve_in_thread(create_app(self), name="alert inbox", host=host, port=port) as url:
            yield f"{url}/webhook"

    @contextlib.contextmanager
    def smtp_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
        """Serve the SMTP sink; yields its port."""
        inbox = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                _smtp_session(self.rfile, self.wfile, inbox)

        server = socketserver.ThreadingTCPServer((host, port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="SMTP sink", daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            server.server_close()


def create_app(inbox: AlertInbox) -> Starlette:
    async def webhook(request: Request) -> Response:
        payload = await request.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            return Response("invalid_payload", status_code=400)
        with inbox._lock:
            inbox.webhook.append({**payload, "at": datetime.now(UTC).isoformat()})
        return Response("ok")

    async def alerts(request: Request) -> Response:
        with inbox._lock:
            return JSONResponse({"webhook": list(inbox.webhook), "mail": list(inbox.mail)})

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/alerts", alerts, methods=["GET"]),
        ]
    )


def _smtp_session(rfile, wfile, inbox: AlertInbox) -> None:
    """Just enough SMTP (RFC 5321) for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(line: str) -> None:
        wfile.write(f"{line}\r\n".encode())
        wfile.flush()

    reply("220 alert-inbox ESMTP")
    sender, recipients = "", []
    while line := rfile.readline():
        command = line.decode(errors="replace").strip()
        verb = command[:4].upper()
        if verb in ("EHLO", "HELO"):
            reply("250 alert-inbox")
        elif verb == "MAIL":
            sender, recipients = command.split(":", 1)[1].strip().strip("<>"), []
            reply("250 OK")
        elif verb == "RCPT":
            recipients.append(command.split(":", 1)[1].strip().strip("<>"))
            reply("250 OK")
        elif verb == "DATA":
            reply("354 End data with <CR><LF>.<CR><LF>")
            data = bytearray()
            while (chunk := rfile.readline()) not in (b".\r\n", b".\n", b""):
                data += chunk[1:] if chunk.startswith(b"..") else chunk
            inbox.receive_mail(sender, recipients, bytes(data))
            reply("250 OK: queued")
        elif verb in ("RSET", "NOOP"):
            reply("250 OK")
        elif verb == "QUIT":
            reply("221 Bye")
            return
        else:
            reply("502 Command not implemented")
