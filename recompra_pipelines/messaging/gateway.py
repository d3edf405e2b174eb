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

import os
from dataclasses import dataclass
from typing import Any

import httpx

from recompra_pipelines.domain.whatsapp_dispatch import Outcome
from recompra_pipelines.messaging.cloud_api import REQUEST_NOT_SENT, SendResult, redact

SEND_PATH = "/messages/send"
# Our codes for the gateway's answers (interactions.erro_codigo).
REFUSED = "GATEWAY_RECUSOU"
UNREADABLE = "RESPOSTA_INVALIDA"


class GatewaySecretMissing(RuntimeError):
    """The variable that should hold an organization's gateway secret is not set here."""


@dataclass(frozen=True)
class GatewayConnection:
    url: str
    session_id: str
    secret_env: str  # the NAME of the environment variable holding the secret


def gateway_secret(connection: GatewayConnection, org_id: str) -> str:
    """Resolve the secret from the environment, or say exactly what to set."""
    value = os.environ.get(connection.secret_env, "").strip()
    if not value:
        raise GatewaySecretMissing(
            f"organization {org_id}: the WhatsApp gateway secret is read from the environment"
            f" variable {connection.secret_env}, which is not set in this process; set it"
            " where WhatsApp dispatch runs. The organization's messages stay queued."
        )
    return value


class GatewayClient:
    def __init__(self, *, timeout_seconds: float = 15.0, connect_timeout_seconds: float = 5.0):
        self._timeout = httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds)
        self._client: httpx.Client | None = None

    @property
    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def send(
        self, connection: GatewayConnection, secret: str, payload: dict[str, Any]
    ) -> SendResult:
        try:
            response = self._http.post(
                connection.url.rstrip("/") + SEND_PATH,
                json=payload,
                headers={"Authorization": f"Bearer {secret}"},
            )
        except REQUEST_NOT_SENT as error:
            return SendResult(
                Outcome.RETRY,
                error_code="CONEXAO",
                error_message=redact(f"{type(error).__name__}: {error}", secret),
            )
        except httpx.TransportError as error:
            return SendResult(
                Outcome.UNKNOWN,
                error_code="SEM_RESPOSTA",
                error_message=redact(
                    f"{type(error).__name__} after the request was sent: {error}", secret
                ),
            )
        return _result(response, secret)


def _result(response: httpx.Response, secret: str) -> SendResult:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    if 200 <= status < 300:
        if body.get("success") is True:
            job = body.get("jobId") or body.get("clientMessageId")
            return SendResult(Outcome.SENT, wamid=str(job) if job else None, http_status=status)
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
    text = body.get("error") or response.text[:200]
    return SendResult(
        Outcome.RETRY if status == 429 or status >= 500 else Outcome.FAILED,
        http_status=status,
        error_code=f"HTTP_{status}",
        error_message=redact(f"HTTP {status}: {text}", secret),
    )
