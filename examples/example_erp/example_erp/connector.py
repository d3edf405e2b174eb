"""Example ERP as a registered connector (entry point `example-erp` in pyproject.toml)."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from example_erp.client import fetch_sales
from example_erp.config import ExampleConfig
from example_erp.envelope import lists_whole_day, sale_records
from example_erp.mapper import FIELD_NAMES, map_sale
from recompra_pipelines.connectors.base import Connector, id_field
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.http import FetchSettings
from recompra_pipelines.domain.sales import CanonicalSale


class ExampleErpConnector(Connector[ExampleConfig]):
    integration_type = "EXAMPLE-ERP"
    config_model = ExampleConfig
    field_names = FIELD_NAMES

    def fetch_day(
        self,
        config: ExampleConfig,
        day: date,
        settings: FetchSettings,
        *,
        timezone: ZoneInfo,
        previous: str | None = None,
    ) -> RawExtract:
        return fetch_sales(
            server_url=config.server_url,
            store_code=config.store_code,
            api_key=config.secret("api_key"),
            day=day,
            settings=settings,
        )

    def records(self, text: str) -> list[Any]:
        return sale_records(text)

    def record_id(self, record: Any) -> str | None:
        return id_field(record, "id")

    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
        return map_sale(record, day=day, timezone=timezone)

    def answer_is_complete(self, text: str) -> bool:
        return lists_whole_day(text)
