"""The WhatsApp Cloud API ``/messages`` call, with every answer reduced to an outcome.

The one thing that matters about a failure is whether the message may have left: a
connection that never opened is safe to retry, a request that was written and then timed
out is "unknown" and must never be blindly re-sent (Meta has no idempotency key:
docs/whatsapp.md#sending-a-template). The token goes only into the Authorization header: it is
redacted from every error text we keep, and never appears in a URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from recompra_pipelines import json_codec
from recompra_pipelines.credentials import Redactor
from recompra_pipelines.deadlines import (
    BodyTooLarge,
    Deadline,
    DeadlineExceeded,
    read_body,
    timeout_within,
)
from recompra_pipelines.domain.storable import storable_text
from recompra_pipelines.domain.whatsapp_dispatch import Outcome, classify_graph_error
from recompra_pipelines.settings import WHATSAPP_API_VERSION, WHATSAPP_GRAPH_URL

GRAPH_URL_ENV = WHATSAPP_GRAPH_URL.env
API_VERSION_ENV = WHATSAPP_API_VERSION.env
MAX_ERROR_TEXT = 500
# Meta's answers are a few hundred bytes; anything far larger is not Meta.
MAX_RESPONSE_BYTES = 1_000_000
# A wamid is up to 128 characters.
MAX_WAMID_LENGTH = 256

# Raised before a byte of the request could have reached the server.
REQUEST_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
    httpx.LocalProtocolError,
)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    wamid: str | None = None
    http_status: int | None = None
    # Meta's numeric code as text, or ours (CONEXAO, SEM_RESPOSTA, HTTP_<status>).
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class Connection:
    """The sending number and its secret; the token is kept out of repr."""

    phone_number_id: str
    token: str = field(repr=False)


class CloudApiClient:
    """POST {graph_url}/{version}/{phone-number-id}/messages, one template message at a time."""

    def __init__(
        self,
        graph_url: str | None = None,
        api_version: str | None = None,
        *,
        timeout_seconds: float = 15.0,
        connect_timeout_seconds: float = 5.0,
    ) -> None:
        self.graph_url = WHATSAPP_GRAPH_URL.resolve(graph_url).rstrip("/")
        self.api_version = WHATSAPP_API_VERSION.resolve(api_version)
        # The whole request (connect, write, every read of the answer) has this long.
        self._deadline_seconds = timeout_seconds
        self._connect_timeout_seconds = connect_timeout_seconds
        self._client: httpx.Client | None = None

    @property
    def _http(self) -> httpx.Client:
        # Built on the first send: most syncs have nothing to send, and an HTTP client's TLS
        # setup costs ~20 ms of every run.
        if self._client is None:
            self._client = httpx.Client(follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> CloudApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def messages_url(self, phone_number_id: str) -> str:
        return f"{self.graph_url}/{self.api_version}/{phone_number_id}/messages"

    def send(self, connection: Connection, payload: dict[str, Any]) -> SendResult:
        deadline = Deadline.after(self._deadline_seconds)
        request = self._http.build_request(
            "POST",
            self.messages_url(connection.phone_number_id),
            json=payload,
            headers={"Authorization": f"Bearer {connection.token}"},
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
                error_message=redact(f"{type(error).__name__}: {error}", connection.token),
            )
        except (httpx.TransportError, DeadlineExceeded, BodyTooLarge) as error:
            return SendResult(
                Outcome.UNKNOWN,
                error_code="SEM_RESPOSTA",
                error_message=redact(
                    f"{type(error).__name__} after the request was sent: {error}",
                    connection.token,
                ),
            )
        return _result(response.status_code, content, connection.token)


def _result(status: int, content: bytes, token: str) -> SendResult:
    text = content.decode("utf-8", "replace")
    try:
        body = json_codec.loads(text)
    except json_codec.JSONDecodeError:
        body = None
    if status == 200:
        messages = body.get("messages") if isinstance(body, dict) else None
        wamid = messages[0].get("id") if messages and isinstance(messages[0], dict) else None
        if wamid:
            wamid = storable_text(str(wamid))[:MAX_WAMID_LENGTH]
            return SendResult(Outcome.SENT, wamid=wamid, http_status=200)
        # Accepted but unreadable: it may well have been sent.
        return SendResult(
            Outcome.UNKNOWN,
            http_status=200,
            error_code="RESPOSTA_INVALIDA",
            error_message="200 without messages[0].id",
        )
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    code = code if isinstance(code, int) else None
    if isinstance(error, dict):
        details = (
            (error.get("error_data") or {}).get("details")
            if isinstance(error.get("error_data"), dict)
            else None
        )
        text = str(details or error.get("message") or "")
    else:
        text = text[:200]
    return SendResult(
        classify_graph_error(status, code),
        http_status=status,
        error_code=str(code) if code is not None else f"HTTP_{status}",
        error_message=redact(f"HTTP {status}: {storable_text(text)}", token),
    )


def redact(text: str, token: str) -> str:
    """An error text safe to keep: the secret replaced (in every spelling a server may echo
    it in), the length bounded."""
    return Redactor([token]).text(text)[:MAX_ERROR_TEXT]
