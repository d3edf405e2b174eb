"""The connector contract (connectors.base): typed config, checked stored config, hooks, errors."""

from __future__ import annotations

import traceback
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, model_validator

from recompra_pipelines.connectors.base import Connector, ConnectorConfig, ConnectorConfigError
from recompra_pipelines.connectors.errors import ErpRequestError
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.online_software.config import OnlineSoftwareConfig
from recompra_pipelines.connectors.registry import CONNECTORS, contract_problem
from recompra_pipelines.credentials import MissingSecret
from recompra_pipelines.sync.organizations import Organization
from recompra_pipelines.sync.steps import SyncError, call_erp

SP = ZoneInfo("America/Sao_Paulo")
TOKEN = "tok-very-secret-123"


class KeyConfig(ConnectorConfig):
    account: str
    key: SecretStr | None = None
    key_env: str | None = None

    @model_validator(mode="after")
    def _one_key(self) -> KeyConfig:
        if (self.key is None) == (self.key_env is None):
            raise ValueError("give exactly one of key or key_env")
        return self


class RaisingConnector(Connector[KeyConfig]):
    """Fails the way `failure` says, echoing its key as a careless server would."""

    integration_type = "RAISING"
    config_model = KeyConfig

    def __init__(self, failure: type[Exception]):
        self.failure = failure
        self.received: list[Any] = []

    def fetch_day(self, config, day, settings, *, timezone, previous=None) -> RawExtract:
        self.received.append(config)
        raise self.failure(f"server said: bad key {config.secret('key')}")

    def records(self, text: str) -> list[Any]:
        return []

    def record_id(self, record: Any) -> str | None:
        return None

    def map_record(self, record, *, day, timezone):
        raise AssertionError("not called")


def organization(config: dict[str, Any]) -> Organization:
    return Organization(
        id="org-base", name="Base", timezone=SP, integration_type="RAISING",
        integration_config=config, integration_active=True, effects_start=None, settings={},
    )  # fmt: skip


def fetch(connector: Connector, config: dict[str, Any]) -> RawExtract:
    return call_erp(
        organization(config),
        connector,
        "organization org-base, day 2026-11-20",
        lambda typed: connector.fetch_day(typed, date(2026, 11, 20), None, timezone=SP),
    )


def test_fetch_day_receives_the_typed_config_with_its_secret_read_from_the_environment(
    monkeypatch,
):
    monkeypatch.setenv("RAISING_KEY", TOKEN)
    connector = RaisingConnector(ErpRequestError)
    with pytest.raises(SyncError):
        fetch(connector, {"account": "A1", "key_env": "RAISING_KEY", "kept_by_the_crm": 1})
    [config] = connector.received
    assert isinstance(config, KeyConfig)
    assert (config.account, config.secret("key"), config.key_env) == ("A1", TOKEN, None)


def test_an_expected_error_is_a_sync_error_caused_by_it_and_neither_shows_the_secret():
    with pytest.raises(SyncError) as raised:
        fetch(RaisingConnector(ErpRequestError), {"account": "A1", "key": TOKEN})
    assert str(raised.value) == (
        "organization org-base, day 2026-11-20: server said: bad key [redacted]"
    )
    assert isinstance(raised.value.__cause__, ErpRequestError)
    assert TOKEN not in "".join(traceback.format_exception(raised.value))


def test_a_connector_bug_propagates_with_its_traceback_a_note_and_no_secret():
    with pytest.raises(KeyError) as raised:
        fetch(RaisingConnector(KeyError), {"account": "A1", "key": TOKEN})
    shown = "".join(traceback.format_exception(raised.value))
    assert "in the RAISING connector, organization org-base, day 2026-11-20" in shown
    assert "fetch_day" in shown  # the frame where the bug is
    assert TOKEN not in shown


def test_a_bad_stored_config_or_an_unset_variable_names_the_field():
    with pytest.raises(SyncError, match=r"integration account: Field required") as raised:
        fetch(RaisingConnector(ErpRequestError), {"key": TOKEN})
    assert isinstance(raised.value.__cause__, ConnectorConfigError)
    assert TOKEN not in "".join(traceback.format_exception(raised.value))
    with pytest.raises(SyncError, match="key_env: environment variable NOT_SET_ANYWHERE") as raised:
        fetch(RaisingConnector(ErpRequestError), {"account": "A", "key_env": "NOT_SET_ANYWHERE"})
    assert isinstance(raised.value.__cause__, MissingSecret)


def test_secret_keys_are_the_secret_fields_of_the_config_model():
    assert KeyConfig.secret_keys() == {"key"}
    assert CONNECTORS["ONLINE-SOFTWARE"].secret_keys == {"token"}
    assert CONNECTORS["CARDAPIO-WEB"].secret_keys == {"api_key"}


def test_stored_config_keeps_what_was_given_and_reads_back_as_itself():
    connector = CONNECTORS["ONLINE-SOFTWARE"]
    given = connector.validate_config({"token": f"  {TOKEN} ", "server_url": "http://erp:8080"})
    assert connector.stored_config(given) == {"token": TOKEN, "server_url": "http://erp:8080"}
    by_reference = connector.validate_config({"token_env": "OS_TOKEN"})
    assert connector.stored_config(by_reference) == {"token_env": "OS_TOKEN"}


def test_a_stored_config_that_does_not_read_back_is_refused():
    class Lossy(OnlineSoftwareConfig):
        def stored_config(self) -> dict[str, Any]:
            return {"server_url": self.server_url}  # forgets the token

    class LossyConnector(RaisingConnector):
        config_model = Lossy

    connector = LossyConnector(ErpRequestError)
    config = connector.validate_config({"token": TOKEN, "server_url": "http://erp"})
    with pytest.raises(ConnectorConfigError, match="stored_config\\(\\) does not read back"):
        connector.stored_config(config)


def test_an_object_that_is_not_a_connector_is_refused_by_the_registry():
    class DuckTyped:
        integration_type = "DUCK"
        config_model = KeyConfig

        def fetch_day(self, *args, **kwargs): ...
        def records(self, text): ...
        def map_record(self, record, *, day, timezone): ...

    assert "is not a connectors.base.Connector" in contract_problem(DuckTyped())
    assert contract_problem(RaisingConnector(KeyError)) is None


def test_the_hooks_have_neutral_defaults():
    connector = RaisingConnector(KeyError)
    assert connector.pending_ids("{}") == []
    assert connector.answer_is_complete("{}") is False
    assert (connector.uses_previous_extract, connector.has_catalog) == (False, False)
    assert connector.field_names == {}


def test_a_connector_claiming_a_catalog_must_define_it():
    class ClaimsCatalog(RaisingConnector):
        has_catalog = True

    assert "fetch_catalog or read_catalog" in contract_problem(ClaimsCatalog(KeyError))
    assert contract_problem(CONNECTORS["CARDAPIO-WEB"]) is None


def test_quarantined_records_are_labelled_by_the_connectors_record_id():
    from recompra_pipelines.sync.steps import _record_id

    class NumberedIds(RaisingConnector):
        def record_id(self, record):
            return f"  N-{record['numero']}  " if "numero" in record else None

    class Broken(RaisingConnector):
        def record_id(self, record):
            raise TypeError("a bug")

    assert _record_id(NumberedIds(KeyError), {"numero": 7, "id": "ignored"}) == "N-7"
    assert _record_id(NumberedIds(KeyError), {"id": "ignored"}) is None
    assert _record_id(Broken(KeyError), {"id": "x"}) is None
    assert _record_id(CONNECTORS["ONLINE-SOFTWARE"], {"id": 12}) == "12"
    assert _record_id(CONNECTORS["ONLINE-SOFTWARE"], {"id": True}) is None
