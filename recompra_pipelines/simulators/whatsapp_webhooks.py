"""Meta's ``messages`` webhooks, built and posted the way Meta does, for the simulator, the
demo, the tests and the receiver's benchmark.

Payloads follow the Cloud API's webhook reference (status and text-message samples): an
``entry`` per business account, a ``change`` with ``field: messages``, the business number in
``metadata.phone_number_id``, Unix-seconds timestamps as strings. Posting signs the raw body
with the app secret in ``X-Hub-Signature-256`` and, like Meta, delivers again when the answer
is not 2xx (Meta keeps trying for 7 days; here a few quick attempts).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from recompra_pipelines.messaging.webhook_receiver import SIGNATURE_HEADER, signature_for

WABA_ID = "209715200000001"


def _meta_time(at: datetime) -> str:
    return str(int(at.timestamp()))


def new_wamid() -> str:
    return "wamid." + secrets.token_urlsafe(24)


def status(
    wamid: str,
    state: str,
    at: datetime,
    recipient: str,
    *,
    callback: str | None = None,
    error: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """One ``statuses[]`` entry; ``error`` = (code, title) for a failed status."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": _meta_time(at),
        "recipient_id": recipient,
    }
    if state in ("sent", "delivered"):
        entry["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": "marketing"}}
        entry["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "marketing"}
    if callback is not None:
        entry["biz_opaque_callback_data"] = callback
    if error is not None:
        code, title = error
        entry["errors"] = [
            {"code": code, "title": title, "message": title, "error_data": {"details": title}}
        ]
    return entry


def text_message(
    wa_id: str, text: str, at: datetime, *, wamid: str | None = None
) -> dict[str, Any]:
    """One ``messages[]`` entry: a customer's text."""
    return {
        "from": wa_id,
        "id": wamid or new_wamid(),
        "timestamp": _meta_time(at),
        "type": "text",
        "text": {"body": text},
    }


def webhook(
    phone_number_id: str,
    *,
    statuses: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
    display_phone_number: str = "5534999990000",
    profile_name: str = "Cliente",
) -> dict[str, Any]:
    """The whole body Meta posts for these statuses / messages of one business number."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }
    if statuses:
        value["statuses"] = statuses
    if messages:
        value["contacts"] = [
            {"profile": {"name": profile_name}, "wa_id": m["from"]} for m in messages
        ]
        value["messages"] = messages
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_headers(app_secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_for(app_secret, body),
    }


@dataclass
class WebhookSender:
    """Posts webhooks to a receiver URL (``…/webhooks/whatsapp``), signed, retrying non-2xx."""

    url: str
    app_secret: str = field(repr=False)
    attempts: int = 4
    backoff_seconds: float = 0.5
    timeout_seconds: float = 10.0
    statuses: list[int] = field(default_factory=list)  # every answer, for tests and the demo

    def __post_init__(self) -> None:
        self._client = httpx.Client(timeout=self.timeout_seconds)

    def close(self) -> None:
        self._client.close()

    def post(self, payload: dict[str, Any]) -> int:
        """Deliver one body; returns the last HTTP status (0: the receiver never answered)."""
        body = encode(payload)
        headers = signed_headers(self.app_secret, body)
        answer = 0
        for attempt in range(self.attempts):
            try:
                answer = self._client.post(self.url, content=body, headers=headers).status_code
            except httpx.TransportError:
                answer = 0
            self.statuses.append(answer)
            if 200 <= answer < 300:
                return answer
            time.sleep(self.backoff_seconds * 2**attempt)
        return answer
