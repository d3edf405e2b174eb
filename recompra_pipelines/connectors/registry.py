"""Integration types and the connectors that serve them.

A connector fetches one organization-day from its ERP (returning the raw response untouched),
splits a stored response into records, and maps one record to a `CanonicalSale`. Everything
downstream of the mapper is shared by every ERP, so adding an ERP is one package.

Built-in connectors are listed here; third-party ones register through the Python entry-point
group `recompra_pipelines.connectors` (value `module:attribute`, a connector class or instance),
so a separately installed package adds an integration type without editing this project (see
docs/adding-an-integration.md). Both are loaded on first use.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.http import RetrySettings
from recompra_pipelines.domain.sales import CanonicalSale

ONLINE_SOFTWARE = "ONLINE-SOFTWARE"
CARDAPIO_WEB = "CARDAPIO-WEB"
ENTRY_POINT_GROUP = "recompra_pipelines.connectors"

# Built-ins as `module:attribute`, imported only when asked for (no HTTP stack for a CLI call
# that never fetches).
BUILT_IN = {
    ONLINE_SOFTWARE: "recompra_pipelines.connectors.online_software.connector:OnlineSoftwareConnector",
    CARDAPIO_WEB: "recompra_pipelines.connectors.cardapio_web.connector:CardapioWebConnector",
}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchSettings:
    timeout_seconds: float = 60.0
    retry: RetrySettings = RetrySettings()


@runtime_checkable
class Connector(Protocol):
    """What an ERP package provides. Optional extras a connector may define:

    - `pending_ids(text) -> list[str]`: records the ERP listed but did not deliver in this
      extract (e.g. a failed detail call). They are reported and retried by the next run, and
      never treated as missing or cancelled.
    - `uses_previous_extract = True`: `fetch_day` then receives the latest stored extract of the
      day as `previous`, the ERP's cheap change check (reuse what did not change).
    - `fetch_catalog(config, settings) -> RawExtract` and `read_catalog(text) ->
      domain.catalog.Catalog`: the ERP's product catalog, synced daily (CardápioWeb).
    - `answer_is_complete(text) -> bool`: whether this extract (whose records could be read)
      lists every sale of the day, so that a sale missing from it is missing at the ERP. Only
      then can a sale vanish (after two such answers in a row, see `db.sales_load`); without
      the method a connector's sales are never taken for vanished.
    """

    integration_type: str
    # Keys of the stored integration config that are secrets (never logged or stored in extracts).
    secret_keys: frozenset[str]
    # Validates the org file's `integration` section (minus `type` and `active`) and has a
    # `stored_config() -> dict` giving what `fetch_day` receives as `config`.
    config_model: type[BaseModel]

    def fetch_day(
        self,
        config: dict[str, Any],
        day: date,
        settings: FetchSettings,
        *,
        timezone: ZoneInfo,
        previous: str | None = None,
    ) -> RawExtract: ...

    def records(self, text: str) -> list[Any]: ...

    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale: ...


class ConnectorRegistry(Mapping[str, Connector]):
    """Integration type -> connector: the built-ins plus the entry-point group, loaded lazily.

    A plugin that fails to load is logged and left out (one broken package must not stop every
    organization's sync); a plugin may not replace a built-in type.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, Connector] | None = None

    def _connectors(self) -> dict[str, Connector]:
        with self._lock:
            if self._loaded is None:
                self._loaded = _load_all()
            return self._loaded

    def reload(self) -> None:
        """Forget what was loaded (after installing a plugin in a running process, or in tests)."""
        with self._lock:
            self._loaded = None

    def __getitem__(self, integration_type: str) -> Connector:
        return self._connectors()[integration_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._connectors())

    def __len__(self) -> int:
        return len(self._connectors())


def _load_all() -> dict[str, Connector]:
    connectors = {name: _instantiate(_import(target)) for name, target in BUILT_IN.items()}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            connector = _instantiate(entry.load())
        except Exception as error:  # a broken plugin is reported, not fatal
            log.error("connector plugin %s (%s) failed to load: %r", entry.name, entry.value, error)
            continue
        problem = _contract_problem(connector)
        name = getattr(connector, "integration_type", entry.name)
        if problem or name in BUILT_IN:
            log.error(
                "connector plugin %s ignored: %s",
                entry.name,
                problem or f"integration type {name!r} is built in",
            )
            continue
        connectors[name] = connector
    return connectors


def _import(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _instantiate(obj: Any) -> Connector:
    return obj() if isinstance(obj, type) else obj


def _contract_problem(connector: Any) -> str | None:
    missing = [
        name
        for name in (
            "integration_type",
            "secret_keys",
            "config_model",
            "fetch_day",
            "records",
            "map_record",
        )
        if not hasattr(connector, name)
    ]
    return f"missing {', '.join(missing)}" if missing else None


CONNECTORS = ConnectorRegistry()


def connector_for(integration_type: str) -> Connector:
    try:
        return CONNECTORS[integration_type]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise ValueError(
            f"unknown integration type {integration_type!r} (known: {known})"
        ) from None


def answer_is_complete(connector: Connector, text: str) -> bool:
    """Whether the extract lists the whole day (see `Connector`); False when the connector
    does not say."""
    complete = getattr(connector, "answer_is_complete", None)
    return bool(complete(text)) if complete else False


def pending_ids(connector: Connector, text: str) -> list[str]:
    """Records listed by the ERP but not delivered in this extract (see `Connector`)."""
    pending = getattr(connector, "pending_ids", None)
    return list(pending(text)) if pending else []
