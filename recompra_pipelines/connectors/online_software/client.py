"""Online Software HTTP client: one `listarVendas001` call per organization and day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import httpx

from recompra_pipelines.connectors.errors import ErpRequestError
from recompra_pipelines.connectors.extract import RawExtract, content_hash
from recompra_pipelines.connectors.http import RetrySettings, post_json_with_retries
from recompra_pipelines.connectors.online_software.schema import (
    DEFAULT_SERVER_URL,
    LISTAR_VENDAS_PATH,
    ListSalesRequest,
)


def sales_url(server_url: str | None) -> str:
    """The org config holds the server's base URL (or the full endpoint URL)."""
    base = (server_url or DEFAULT_SERVER_URL).rstrip("/")
    return base if base.endswith(".php") else base + LISTAR_VENDAS_PATH


class OnlineSoftwareClient:
    def __init__(
        self,
        *,
        token: str,
        server_url: str | None,
        timeout_seconds: float = 60.0,
        retry: RetrySettings = RetrySettings(),
        sleep: Callable[[float], None] | None = None,
    ):
        self._token = token
        self._url = sales_url(server_url)
        self._timeout = httpx.Timeout(timeout_seconds, connect=10.0)
        self._retry = retry
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the token
        return f"OnlineSoftwareClient(url={self._url!r})"

    def list_sales(self, day: date) -> RawExtract:
        request = ListSalesRequest.for_day(self._token, day)
        describe = f"Online Software listarVendas001 for {day.isoformat()}"
        kwargs = {"sleep": self._sleep} if self._sleep else {}
        with httpx.Client(timeout=self._timeout) as http:
            outcome = post_json_with_retries(
                http,
                self._url,
                request.model_dump(),
                retry=self._retry,
                describe=describe,
                **kwargs,
            )
        response = outcome.response
        if response.status_code >= 400:
            raise ErpRequestError(
                f"{describe}: HTTP {response.status_code} (not retried): "
                f"{_excerpt(response.text.replace(self._token, '***'))}"
            )
        text = response.text
        return RawExtract(
            request=request.without_secrets(),
            status_code=response.status_code,
            text=text,
            content_hash=content_hash(text),
            attempts=outcome.attempts,
        )


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
