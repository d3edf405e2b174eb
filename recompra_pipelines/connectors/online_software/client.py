"""Online Software HTTP client: one `listarVendas001` call per organization and day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import httpx

from recompra_pipelines.connectors.errors import ErpRequestError
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.http import FetchSettings, send_with_retries
from recompra_pipelines.connectors.online_software.schema import (
    DEFAULT_SERVER_URL,
    LISTAR_VENDAS_PATH,
    ListSalesRequest,
)
from recompra_pipelines.credentials import Redactor


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
        settings: FetchSettings = FetchSettings(),
        sleep: Callable[[float], None] | None = None,
    ):
        self._token = token
        self._url = sales_url(server_url)
        self._settings = settings
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the token
        return f"OnlineSoftwareClient(url={self._url!r})"

    def list_sales(self, day: date) -> RawExtract:
        request = ListSalesRequest.for_day(self._token, day)
        describe = f"Online Software listarVendas001 for {day.isoformat()}"
        kwargs = {"sleep": self._sleep} if self._sleep else {}
        with httpx.Client() as http:
            outcome = send_with_retries(
                http,
                lambda: http.build_request("POST", self._url, json=request.model_dump()),
                settings=self._settings,
                describe=describe,
                **kwargs,
            )
        response = outcome.response
        if response.status_code >= 400:
            raise ErpRequestError(
                f"{describe}: HTTP {response.status_code} (not retried): "
                f"{_excerpt(Redactor([self._token]).text(response.text))}"
            )
        return RawExtract(
            request=request.without_secrets(),
            status_code=response.status_code,
            content=response.content,
            attempts=outcome.attempts,
        )


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
