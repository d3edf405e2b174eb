"""Integration types and the connectors that serve them (`connectors.base.Connector`).

Built-in connectors are listed here; third-party ones register through the Python entry-point
group `recompra_pipelines.connectors` (value `module:attribute`, a `Connector` subclass or
instance), so a separately installed package adds an integration type without editing this
project (see docs/adding-an-integration.md). Both are loaded on first use.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

from recompra_pipelines.connectors.base import Connector, ConnectorConfig
from recompra_pipelines.connectors.http import FetchSettings

ONLINE_SOFTWARE = "ONLINE-SOFTWARE"
CARDAPIO_WEB = "CARDAPIO-WEB"
ENTRY_POINT_GROUP = "recompra_pipelines.connectors"
__all__ = ["CONNECTORS", "Connector", "FetchSettings", "connector_for"]

# Built-ins as `module:attribute`, imported only when asked for (no HTTP stack for a CLI call
# that never fetches).
BUILT_IN = {
    ONLINE_SOFTWARE: "recompra_pipelines.connectors.online_software.connector:OnlineSoftwareConnector",
    CARDAPIO_WEB: "recompra_pipelines.connectors.cardapio_web.connector:CardapioWebConnector",
}

log = logging.getLogger(__name__)


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

    @contextlib.contextmanager
    def registered(self, connector: Connector) -> Iterator[Connector]:
        """`connector` served under its integration type while the block runs (a plugin's
        tests, before or without `pip install`); then what was there before again."""
        problem = contract_problem(connector)
        if problem:
            raise ValueError(f"not a connector: {problem}")
        name = connector.integration_type
        if name in BUILT_IN:
            raise ValueError(f"integration type {name!r} is built in")
        loaded = self._connectors()
        before = loaded.get(name)
        loaded[name] = connector
        try:
            yield connector
        finally:
            with self._lock:
                current = self._loaded if self._loaded is not None else {}
                if before is None:
                    current.pop(name, None)
                else:
                    current[name] = before

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
        problem = contract_problem(connector)
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


def contract_problem(connector: Any) -> str | None:
    """Why a plugin's object cannot serve as a connector, or None. Abstract members left
    undefined already fail at instantiation (`_instantiate`)."""
    if not isinstance(connector, Connector):
        return f"{type(connector).__name__} is not a connectors.base.Connector"
    if not isinstance(getattr(connector, "integration_type", None), str):
        return "integration_type is not set"
    model = getattr(connector, "config_model", None)
    if not (isinstance(model, type) and issubclass(model, ConnectorConfig)):
        return "config_model is not a connectors.base.ConnectorConfig"
    if connector.has_catalog and (
        type(connector).fetch_catalog is Connector.fetch_catalog
        or type(connector).read_catalog is Connector.read_catalog
    ):
        return "has_catalog is set but fetch_catalog or read_catalog is not defined"
    return None


CONNECTORS = ConnectorRegistry()


def connector_for(integration_type: str) -> Connector:
    try:
        return CONNECTORS[integration_type]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise ValueError(
            f"unknown integration type {integration_type!r} (known: {known})"
        ) from None
