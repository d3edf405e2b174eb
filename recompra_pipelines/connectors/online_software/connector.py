"""Online Software as a registered connector: one POST per day, records under `resultado`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from recompra_pipelines.connectors.base import Connector, id_field
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.http import FetchSettings
from recompra_pipelines.connectors.online_software.client import OnlineSoftwareClient
from recompra_pipelines.connectors.online_software.config import OnlineSoftwareConfig
from recompra_pipelines.connectors.online_software.envelope import sales_records
from recompra_pipelines.connectors.online_software.mapper import FIELD_NAMES, map_sale
from recompra_pipelines.connectors.online_software.repeated_ids import resolve_cash_repeats
from recompra_pipelines.domain.sales import CanonicalSale, Occurrence, RepeatedIdResolution


class OnlineSoftwareConnector(Connector[OnlineSoftwareConfig]):
    integration_type = "ONLINE-SOFTWARE"
    config_model = OnlineSoftwareConfig
    field_names = FIELD_NAMES

    def fetch_day(
        self,
        config: OnlineSoftwareConfig,
        day: date,
        settings: FetchSettings,
        *,
        timezone: ZoneInfo,
        previous: str | None = None,
    ) -> RawExtract:
        # The ERP's dates are its own local days (DDMMYYYY), so the timezone is not needed.
        client = OnlineSoftwareClient(
            token=config.secret("token"), server_url=config.server_url, settings=settings
        )
        return client.list_sales(day)

    def records(self, text: str) -> list[Any]:
        return sales_records(text)

    def record_id(self, record: Any) -> str | None:
        return id_field(record, "id")

    def answer_is_complete(self, text: str) -> bool:
        """`listarVendas001` answers the whole day in one response, and a response that is not
        a list of sales (nor the no-sales message) never gets this far: it fails the run."""
        return True

    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
        return map_sale(record, day=day, timezone=timezone)

    def resolve_repeated_ids(
        self, occurrences: Sequence[Occurrence[Any]]
    ) -> RepeatedIdResolution[Any]:
        """The ERP repeats a sale's id for its cash movements (see `repeated_ids`)."""
        return resolve_cash_repeats(occurrences)
