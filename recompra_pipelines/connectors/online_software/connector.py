"""Online Software as a registered connector: one POST per day, records under `resultado`."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.online_software.client import OnlineSoftwareClient
from recompra_pipelines.connectors.online_software.config import OnlineSoftwareConfig
from recompra_pipelines.connectors.online_software.envelope import sales_records
from recompra_pipelines.connectors.online_software.mapper import map_sale
from recompra_pipelines.domain.sales import CanonicalSale


class OnlineSoftwareConnector:
    integration_type = "ONLINE-SOFTWARE"
    secret_keys = frozenset({"token"})
    config_model = OnlineSoftwareConfig

    def fetch_day(
        self,
        config: dict[str, Any],
        day: date,
        settings,
        *,
        timezone: ZoneInfo,
        previous: str | None = None,
    ) -> RawExtract:
        # The ERP's dates are its own local days (DDMMYYYY), so the timezone is not needed.
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

    def answer_is_complete(self, text: str) -> bool:
        """`listarVendas001` answers the whole day in one response, and a response that is not
        a list of sales (nor the no-sales message) never gets this far: it fails the run."""
        return True

    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
        return map_sale(record, day=day, timezone=timezone)
