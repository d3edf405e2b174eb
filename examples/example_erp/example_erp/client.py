"""Example ERP over HTTP: `GET /api/vendas?loja=<store>&data=<YYYY-MM-DD>`, key in `X-Api-Key`."""

from __future__ import annotations

from datetime import date

import httpx

from recompra_pipelines.connectors.errors import ErpRequestError
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.http import FetchSettings, send_with_retries

SALES_PATH = "/api/vendas"


def fetch_sales(
    *, server_url: str, store_code: str, api_key: str, day: date, settings: FetchSettings
) -> RawExtract:
    params = {"loja": store_code, "data": day.isoformat()}
    describe = f"Example ERP sales of {day.isoformat()}"
    with httpx.Client(base_url=server_url, headers={"X-Api-Key": api_key}) as http:
        outcome = send_with_retries(
            http,
            lambda: http.build_request("GET", SALES_PATH, params=params),
            settings=settings,
            describe=describe,
        )
    response = outcome.response
    if response.status_code >= 400:
        # The sync redacts the key from this message should the server echo it.
        raise ErpRequestError(f"{describe}: HTTP {response.status_code}: {response.text[:200]}")
    return RawExtract(
        request={"path": SALES_PATH, **params},  # never the key
        status_code=response.status_code,
        content=response.content,
        attempts=outcome.attempts,
    )
