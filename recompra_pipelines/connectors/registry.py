"""Integration types and the connectors that serve them.

A connector fetches one organization-day from its ERP (returning the raw response untouched),
splits a stored response into records, and maps one record to a `CanonicalSale`. Everything
downstream of the mapper is shared by every ERP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from recompra_pipelines.connectors.http import RetrySettings
from recompra_pipelines.connectors.online_software.client import OnlineSoftwareClient, RawExtract
from recompra_pipelines.connectors.online_software.envelope import sales_records
from recompra_pipelines.connectors.online_software.mapper import map_sale
from recompra_pipelines.domain.sales import CanonicalSale

ONLINE_SOFTWARE = "ONLINE-SOFTWARE"


@dataclass(frozen=True)
class FetchSettings:
    timeout_seconds: float = 60.0
    retry: RetrySettings = RetrySettings()


class Connector(Protocol):
    integration_type: str
    # Keys of the organization's integration config that are secrets (never logged or stored).
    secret_keys: frozenset[str]

    def fetch_day(
        self, config: dict[str, Any], day: date, settings: FetchSettings
    ) -> RawExtract: ...

    def records(self, text: str) -> list[Any]: ...

    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale: ...


class OnlineSoftwareConnector:
    integration_type = ONLINE_SOFTWARE
    secret_keys = frozenset({"token"})

    def fetch_day(self, config: dict[str, Any], day: date, settings: FetchSettings) -> RawExtract:
        if not str(config.get("token") or "").strip():
            raise ValueError("the Online Software integration config has no token")
        client = OnlineSoftwareClient(
            token=config["token"],
            server_url=config.get("server_url"),
            timeout_seconds=settings.timeout_seconds,
            retry=settings.retry,
        )
        return client.list_sales(day)

    def records(self, text: str) -> list[Any]:
        return sales_records(text)

    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
        return map_sale(record, day=day, timezone=timezone)


CONNECTORS: dict[str, Connector] = {ONLINE_SOFTWARE: OnlineSoftwareConnector()}


def connector_for(integration_type: str) -> Connector:
    try:
        return CONNECTORS[integration_type]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise ValueError(
            f"unknown integration type {integration_type!r} (known: {known})"
        ) from None
