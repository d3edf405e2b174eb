"""The connector contract: what an ERP package provides, as a base class to subclass.

A connector fetches one organization-day from its ERP (returning the raw response untouched),
splits a stored response into records, names each record's id, and maps one record to a
`CanonicalSale`. Everything downstream of the mapper is shared by every ERP.

Required members are abstract; optional ones are hooks with a neutral default here, so the
sync calls them directly (nothing is probed with `getattr`). The integration config is typed:
the registry validates the stored config with the connector's `config_model` (a
`ConnectorConfig`) and hands `fetch_day` that model, its secrets read from the run's
environment. See docs/adding-an-integration.md.
"""

from __future__ import annotations

import os
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.http import FetchSettings
from recompra_pipelines.credentials import resolved
from recompra_pipelines.domain.catalog import Catalog
from recompra_pipelines.domain.sales import (
    CanonicalSale,
    Occurrence,
    RepeatedIdResolution,
    keep_identical_repeats,
)
from recompra_pipelines.errors import validation_problems


class ConnectorConfigError(ValueError):
    """An integration config its connector's model refuses; the message lists each field."""


class ConnectorConfig(BaseModel):
    """Base of a connector's `config_model`: the org file's `integration` section (minus `type`
    and `active`), and what the sync hands `fetch_day`.

    Fields typed `SecretStr` are the credentials: redacted from errors and stored extracts, and
    each may instead be given as `<field>_env` (an environment variable's name, see
    `connectors.config.check_secret`), read when a run needs it.
    """

    # Unknown keys are refused in an org file; errors never repeat the input (a token in it).
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    @classmethod
    def secret_keys(cls) -> frozenset[str]:
        return frozenset(
            name for name, info in cls.model_fields.items() if _holds_secret(info.annotation)
        )

    def stored_config(self) -> dict[str, Any]:
        """What `organizations.integracao_configuracao` keeps: each field given a value other
        than its default, a secret as its text (or only its variable's name, `<field>_env`).
        Parsing it back gives this config again (checked by `Connector.stored_config`)."""
        stored: dict[str, Any] = {}
        for name, value in self.model_dump(exclude_defaults=True).items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value().strip()
            stored[name] = value
        return stored

    def secret(self, key: str) -> str:
        """The credential `key` as text, once the run resolved it (see `Connector.parse_config`)."""
        value = getattr(self, key, None)
        if not isinstance(value, SecretStr) or not value.get_secret_value().strip():
            raise ConnectorConfigError(f"{key}: missing")
        return value.get_secret_value().strip()

    def secret_values(self) -> list[str]:
        """The credentials this config holds (what the redactor replaces)."""
        return [
            value.get_secret_value()
            for key in self.secret_keys()
            if isinstance(value := getattr(self, key, None), SecretStr)
        ]


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_holds_secret(arg) for arg in typing.get_args(annotation))
    return False


def id_field(record: Any, key: str = "id") -> str | None:
    """`record[key]` as an id when the record is an object holding a text or an integer there:
    a `record_id` for ERPs whose records carry their id in one field."""
    value = record.get(key) if isinstance(record, dict) else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


ConfigT = TypeVar("ConfigT", bound=ConnectorConfig)


class Connector(ABC, Generic[ConfigT]):
    """What an ERP package provides; the registry loads one instance per integration type."""

    # The type's name, upper case with dashes (`MY-ERP`); org files may write `my-erp`.
    integration_type: ClassVar[str]
    config_model: ClassVar[type[ConnectorConfig]]

    # Hooks: what a connector says about itself when it differs from the neutral default.
    # `fetch_day` receives the latest stored extract of the day as `previous` (the ERP's cheap
    # change check: reuse what did not change).
    uses_previous_extract: ClassVar[bool] = False
    # Canonical sale and item field names -> the wire names they come from, so a mapped sale
    # the CRM cannot store (domain.storable) is quarantined under the ERP's name for the field.
    field_names: ClassVar[Mapping[str, str]] = {}
    # Whether the connector syncs the ERP's product catalog (`fetch_catalog`, `read_catalog`).
    has_catalog: ClassVar[bool] = False

    # --- required -----------------------------------------------------------------------

    @abstractmethod
    def fetch_day(
        self,
        config: ConfigT,
        day: date,
        settings: FetchSettings,
        *,
        timezone: ZoneInfo,
        previous: str | None = None,
    ) -> RawExtract:
        """The ERP's answer for the organization-local `day`, untouched; `ErpRequestError`
        when the ERP cannot be asked."""

    @abstractmethod
    def records(self, text: str) -> list[Any]:
        """A stored extract split into records; `ErpPayloadError` when it is not a list of
        sales at all."""

    @abstractmethod
    def record_id(self, record: Any) -> str | None:
        """The ERP's id of a record as read by `records` (the sale's `external_id` when it maps),
        or None when the record has none; never raises, whatever the record holds. A record
        quarantined without an id could be any sale, so no sale of that day can vanish."""

    @abstractmethod
    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
        """One record as a sale, or `RecordRejected(field, reason)` (quarantined alone)."""

    # --- hooks --------------------------------------------------------------------------

    def pending_ids(self, text: str) -> list[str]:
        """Records the ERP listed but did not deliver in this (readable) extract, e.g. a failed
        detail call: reported and retried by the next run, never taken as missing or
        cancelled. Default: the extract holds every record it lists."""
        return []

    def answer_is_complete(self, text: str) -> bool:
        """Whether this (readable) extract lists every sale of the day, so that a sale missing
        from it is missing at the ERP (removed after two such answers in a row, see
        `db.sales_load`). Default False: this ERP's sales never vanish."""
        return False

    def resolve_repeated_ids(
        self, occurrences: Sequence[Occurrence[Any]]
    ) -> RepeatedIdResolution[Any]:
        """One occurrence per external id. Default: identical repeats collapse; an id listed
        with different contents is ambiguous (quarantined, never guessed). An ERP that repeats
        ids on purpose says which occurrence is the sale (Online Software's cash lines)."""
        return keep_identical_repeats(occurrences)

    def fetch_catalog(self, config: ConfigT, settings: FetchSettings) -> RawExtract:
        """The ERP's product catalog, untouched (with `has_catalog = True`)."""
        raise NotImplementedError(f"{self.integration_type} has no product catalog")

    def read_catalog(self, text: str) -> Catalog:
        """A stored catalog read into products (with `has_catalog = True`)."""
        raise NotImplementedError(f"{self.integration_type} has no product catalog")

    # --- provided -----------------------------------------------------------------------

    @property
    def secret_keys(self) -> frozenset[str]:
        return self.config_model.secret_keys()

    def validate_config(self, data: Mapping[str, Any]) -> ConfigT:
        """An org file's `integration` section as this connector's config, or
        ConnectorConfigError naming each bad field."""
        try:
            return self.config_model.model_validate(dict(data))  # type: ignore[return-value]
        except ValidationError as error:
            raise ConnectorConfigError("; ".join(validation_problems(error))) from error

    def stored_config(self, config: ConfigT) -> dict[str, Any]:
        """`config.stored_config()`, checked to read back as the same config: what is stored
        is exactly what later runs will parse."""
        stored = config.stored_config()
        if not isinstance(stored, dict):
            raise ConnectorConfigError(
                f"{self.integration_type}: stored_config() gave a {type(stored).__name__},"
                " not a dict"
            )
        try:
            again = self.validate_config(stored)
        except ConnectorConfigError as error:
            raise ConnectorConfigError(
                f"{self.integration_type}: stored_config() does not read back: {error}"
            ) from error
        if again.stored_config() != stored:
            raise ConnectorConfigError(
                f"{self.integration_type}: stored_config() does not read back as itself"
            )
        return stored

    def parse_config(
        self, stored: Mapping[str, Any], *, environ: Mapping[str, str] = os.environ
    ) -> ConfigT:
        """The stored integration config as `fetch_day` receives it: secrets given by reference
        (`<key>_env`) read from `environ` (MissingSecret when unset), then validated.

        Keys the model does not declare are left out: the CRM application writes this column
        too and may keep keys of its own there; an org file is checked strictly when applied.
        """
        known = {
            key: value
            for key, value in resolved(stored, self.secret_keys, environ=environ).items()
            if key in self.config_model.model_fields
        }
        return self.validate_config(known)
