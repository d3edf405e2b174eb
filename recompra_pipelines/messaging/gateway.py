"""The company's internal WhatsApp gateway: ``POST {gateway_url}/messages/send``.

A session-based service (one WhatsApp session per organization): it takes rendered text, not
a Meta template — ``{"sessionId", "to", "content": {"type": "text", "text"} | {"type":
"image"|"video"|"document", "text", "mediaUrl", "mediaFileName"}, "clientMessageId"}`` with
``Authorization: Bearer <secret>`` — and answers ``{"success", "queued", "jobId",
"clientMessageId", "error"}``. Its answers are reduced to the same outcomes as the Cloud
API's, so the outbox gives the same guarantees: a connection that never opened, a 429 or a
5xx is retried with backoff; a request that left and got no answer is "unknown" and never
re-sent blindly; ``success: false`` and other 4xx are final.

The secret is not stored anywhere: the connection names the environment variable holding it,
read here when a message is about to go out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from recompra_pipelines import json_codec
from recompra_pipelines.credentials import MissingSecret, from_env
from recompra_pipelines.deadlines import (
    BodyTooLarge,
    Deadline,
    DeadlineExceeded,
    read_body,
    timeout_within,
)
from recompra_pipelines.domain.storable import storable_text
from recompra_pipelines.domain.whatsapp_dispatch import Outcome
from recompra_pipelines.messaging.cloud_api import (
    MAX_RESPONSE_BYTES,
    MAX_WAMID_LENGTH,
    REQUEST_NOT_SENT,
    SendResult,
    redact,
)

SEND_PATH = "/messages/send"
# Our codes for the gateway's answers (interactions.erro_codigo).
REFUSED = "GATEWAY_RECUSOU"
UNREADABLE = "RESPOSTA_INVALIDA"


class GatewaySecretMissing(MissingSecret):
    """The variable that should hold an organization's gateway secret is not set here."""


@dataclass(frozen=True)
class GatewayConnection:
    url: str
    session_id: str
    secret_env: str  # the NAME of the environment variable holding the secret


def gateway_secret(connection: GatewayConnection, org_id: str) -> str:
    """Resolve the secret from the environment, or say exactly what to set."""
    try:
        return from_env(connection.secret_env, what="the WhatsApp gateway secret")
    except MissingSecret:
        raise GatewaySecretMissing(
            f"organization {org_id}: the WhatsApp gateway secret is read from the environment"
            f" variable {connection.secret_env}, which is not set in this process; set it"
            " where WhatsApp dispatch runs. The organization's messages stay queued."
        ) from None


class GatewayClient:
    def __init__(self, *, timeout_seconds: float = 15.0, connect_timeout_seconds: float = 5.0):
        # The whole request (connect, write, every read of the answer) has this long.
        self._deadline_seconds = timeout_seconds
        self._connect_timeout_seconds = connect_timeout_seconds
        self._client: httpx.Client | None = None

    @property
    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def send(
        self, connection: GatewayConnection, secret: str, payload: dict[str, Any]
    ) -> SendResult:
        deadline = Deadline.after(self._deadline_seconds)
        request = self._http.build_request(
            "POST",
            connection.url.rstrip("/") + SEND_PATH,
            json=payload,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=timeout_within(deadline, self._deadline_seconds, self._connect_timeout_seconds),
        )
        try:
            response = self._http.send(request, stream=True)
            try:
                content = read_body(response, deadline, MAX_RESPONSE_BYTES)
            finally:
                response.close()
        except REQUEST_NOT_SENT as error:
            return SendResult(
                Outcome.RETRY,
                error_code="CONEXAO",
                error_message=redact(f"{type(error).__name__}: {error}", secret),
            )
        except (httpx.TransportError, DeadlineExceeded, BodyTooLarge) as error:
            return SendResult(
                Outcome.UNKNOWN,
                error_code="SEM_RESPOSTA",
                error_message=redact(
                    f"{type(error).__name__} after the request was sent: {error}", secret
                ),
            )
        return _result(response.status_code, content, secret)


def _result(status: int, content: bytes, secret: str) -> SendResult:
    text = content.decode("utf-8", "replace")
    try:
        body = json_codec.loads(text)
    except json_codec.JSONDecodeError:
        body = None
    body = body if isinstance(body, dict) else {}
    if 200 <= status < 300:
        if body.get("success") is True:
            job = body.get("jobId") or body.get("clientMessageId")
            wamid = storable_text(str(job))[:MAX_WAMID_LENGTH] if job else None
            return SendResult(Outcome.SENT, wamid=wamid, http_status=status)
        if body.get("success") is False:
            return SendResult(
                Outcome.FAILED,
                http_status=status,
                error_code=REFUSED,
                error_message=redact(str(body.get("error") or "success: false"), secret),
            )
        # Accepted, but we cannot tell whether it was queued: it may well go out.
        return SendResult(
            Outcome.UNKNOWN,
            http_status=status,
            error_code=UNREADABLE,
            error_message=f"HTTP {status} without success",
        )
    text = storable_text(str(body.get("error") or text[:200]))
    return SendResult(
        Outcome.RETRY if status == 429 or status >= 500 else Outcome.FAILED,
        http_status=status,
        error_code=f"HTTP_{status}",
        error_message=redact(f"HTTP {status}: {text}", secret),
    )
