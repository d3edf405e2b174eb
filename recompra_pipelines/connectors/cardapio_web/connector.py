"""CardápioWeb as a registered connector."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from recompra_pipelines.connectors.cardapio_web.catalog import read_catalog
from recompra_pipelines.connectors.cardapio_web.client import CardapioWebClient
from recompra_pipelines.connectors.cardapio_web.config import CardapioWebConfig
from recompra_pipelines.connectors.cardapio_web.envelope import (
    history_is_complete,
    order_records,
    pending_order_ids,
    read_day_extract,
)
from recompra_pipelines.connectors.cardapio_web.mapper import map_order
from recompra_pipelines.connectors.cardapio_web.schema import (
    DETAILS_PER_MINUTE,
    HISTORY_PER_MINUTE,
)
from recompra_pipelines.connectors.errors import ErpPayloadError
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.domain.catalog import Catalog
from recompra_pipelines.domain.sales import CanonicalSale


class CardapioWebConnector:
    integration_type = "CARDAPIO-WEB"
    secret_keys = frozenset({"api_key"})
    config_model = CardapioWebConfig
    # The cheap change check: unchanged orders keep the detail stored by the previous run.
    uses_previous_extract = True

    def fetch_day(
        self,
        config: dict[str, Any],
        day: date,
        settings,
        *,
        timezone: ZoneInfo,
        previous: str | None = None,
    ) -> RawExtract:
        return _client(config, settings).fetch_day(day, timezone, _readable(previous))

    def fetch_catalog(self, config: dict[str, Any], settings) -> RawExtract:
        return _client(config, settings).fetch_catalog()

    def read_catalog(self, text: str) -> Catalog:
        return read_catalog(text)

    def records(self, text: str) -> list[Any]:
        return order_records(text)

    def pending_ids(self, text: str) -> list[str]:
        return pending_order_ids(text)

    def answer_is_complete(self, text: str) -> bool:
        return history_is_complete(read_day_extract(text))

    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
        return map_order(record, day=day, timezone=timezone)


def _client(config: dict[str, Any], settings) -> CardapioWebClient:
    for key in ("merchant_id", "api_key"):
        if not str(config.get(key) or "").strip():
            raise ValueError(f"the CardápioWeb integration config has no {key}")
    return CardapioWebClient(
        merchant_id=str(config["merchant_id"]),
        api_key=config["api_key"],
        base_url=config.get("server_url"),
        timeout_seconds=settings.timeout_seconds,
        retry=settings.retry,
        history_per_minute=config.get("history_per_minute", HISTORY_PER_MINUTE),
        details_per_minute=config.get("details_per_minute", DETAILS_PER_MINUTE),
    )


def _readable(previous: str | None):
    """A previous extract that cannot be read is simply not reused."""
    if previous is None:
        return None
    try:
        return read_day_extract(previous)
    except ErpPayloadError:
        return None
