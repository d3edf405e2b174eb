"""CardápioWeb as a registered connector."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from recompra_pipelines.connectors.base import Connector, id_field
from recompra_pipelines.connectors.cardapio_web.catalog import read_catalog
from recompra_pipelines.connectors.cardapio_web.client import CardapioWebClient
from recompra_pipelines.connectors.cardapio_web.config import CardapioWebConfig
from recompra_pipelines.connectors.cardapio_web.envelope import (
    history_is_complete,
    order_records,
    pending_order_ids,
    read_day_extract,
)
from recompra_pipelines.connectors.cardapio_web.mapper import FIELD_NAMES, map_order
from recompra_pipelines.connectors.errors import ErpPayloadError
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.http import FetchSettings
from recompra_pipelines.domain.catalog import Catalog
from recompra_pipelines.domain.sales import CanonicalSale


class CardapioWebConnector(Connector[CardapioWebConfig]):
    integration_type = "CARDAPIO-WEB"
    config_model = CardapioWebConfig
    field_names = FIELD_NAMES
    # The cheap change check: unchanged orders keep the detail stored by the previous run.
    uses_previous_extract = True
    has_catalog = True

    def fetch_day(
        self,
        config: CardapioWebConfig,
        day: date,
        settings: FetchSettings,
        *,
        timezone: ZoneInfo,
        previous: str | None = None,
    ) -> RawExtract:
        return _client(config, settings).fetch_day(day, timezone, _readable(previous))

    def fetch_catalog(self, config: CardapioWebConfig, settings: FetchSettings) -> RawExtract:
        return _client(config, settings).fetch_catalog()

    def read_catalog(self, text: str) -> Catalog:
        return read_catalog(text)

    def records(self, text: str) -> list[Any]:
        return order_records(text)

    def record_id(self, record: Any) -> str | None:
        return id_field(record, "id")

    def pending_ids(self, text: str) -> list[str]:
        return pending_order_ids(text)

    def answer_is_complete(self, text: str) -> bool:
        return history_is_complete(read_day_extract(text))

    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
        return map_order(record, day=day, timezone=timezone)


def _client(config: CardapioWebConfig, settings: FetchSettings) -> CardapioWebClient:
    return CardapioWebClient(
        merchant_id=config.merchant_id,
        api_key=config.secret("api_key"),
        base_url=config.server_url,
        settings=settings,
        history_per_minute=config.history_per_minute,
        details_per_minute=config.details_per_minute,
    )


def _readable(previous: str | None):
    """A previous extract that cannot be read is simply not reused."""
    if previous is None:
        return None
    try:
        return read_day_extract(previous)
    except ErpPayloadError:
        return None
