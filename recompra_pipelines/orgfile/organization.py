"""The `recompra org apply` file: an organization and everything it is configured with.

YAML or JSON. The organization part is defined here; the engagement sections (cashback
program, WhatsApp, campaigns) in `orgfile.engagement`. Secrets can be given through
environment variables (`token_env`) so the file itself can be committed.
See README "Organizations" and `examples/`.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from recompra_pipelines.connectors.base import ConnectorConfig
from recompra_pipelines.connectors.registry import CONNECTORS
from recompra_pipelines.credentials import env_key
from recompra_pipelines.domain.campaign_rules import DEFAULT_MAX_SALE_AGE_DAYS
from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE
from recompra_pipelines.errors import validation_problems
from recompra_pipelines.orgfile.engagement import EngagementConfig

# Organization ids are Dagster partition keys: no `|`, `,` or spaces
# (docs/architecture.md#partitions).
ORG_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# An organization with every campaign and template it could want fits in a few kB.
MAX_ORG_FILE_BYTES = 1_000_000
# Names are shown in the UI and in messages: a few lines at most.
MAX_NAME_LENGTH = 200


class OrgFileError(ValueError):
    """An org file that cannot be applied; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntegrationConfig(BaseModel):
    """The ERP connection: `type` (e.g. `ONLINE-SOFTWARE` or `online-software`), `active`, and
    the fields of that type's connector, validated by its `config_model` (Online Software:
    `server_url`, `token`/`token_env`; CardápioWeb: `merchant_id`, `api_key`/`api_key_env`,
    `server_url`, rate limits)."""

    model_config = ConfigDict(extra="allow")

    type: str
    active: bool = True
    _settings: ConnectorConfig | None = PrivateAttr(default=None)

    @staticmethod
    def normalized_type(value: str) -> str:
        """`online-software`, `ONLINE_SOFTWARE` -> `ONLINE-SOFTWARE`."""
        return value.strip().upper().replace("_", "-")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        normalized = cls.normalized_type(value)
        if normalized not in CONNECTORS:
            raise ValueError(
                f"unknown integration type {value!r}; known: {', '.join(sorted(CONNECTORS))}"
            )
        return normalized

    @model_validator(mode="after")
    def _connector_settings(self) -> IntegrationConfig:
        # A ConnectorConfigError is a ValueError: pydantic reports it under `integration`.
        self._settings = CONNECTORS[self.type].validate_config(self.model_extra or {})
        return self

    def stored_config(self) -> dict[str, Any]:
        """What `organizations.integracao_configuracao` keeps (checked to read back as is)."""
        return CONNECTORS[self.type].stored_config(self._settings)


def integration_fields(
    integration_type: str, flags: dict[str, Any], values: dict[str, Any]
) -> dict[str, Any]:
    """An `integration` section from command-line flags (given ones only) and FIELD=VALUE
    pairs, each field checked to be one of the type's connector's config fields."""
    connector = CONNECTORS.get(IntegrationConfig.normalized_type(integration_type))
    if connector is None:
        known = ", ".join(sorted(CONNECTORS))
        raise ValueError(f"unknown integration type {integration_type!r}; known: {known}")
    fields = connector.config_model.model_fields
    given = {key: value for key, value in flags.items() if value is not None} | values
    unknown = sorted(key for key in given if key not in fields)
    if unknown:
        raise ValueError(
            f"{connector.integration_type} has no field {', '.join(unknown)}; its fields:"
            f" {', '.join(fields)}"
        )
    return given


class CampaignSettings(_Model):
    """Organization-wide limits on purchase-triggered campaigns."""

    # At most this many marketing messages per client per organization-local day (None: no cap).
    daily_message_cap: int | None = Field(default=None, ge=1)
    # Sales first seen more than this many days after their date (a late backfill) fire nothing.
    max_sale_age_days: int = Field(default=DEFAULT_MAX_SALE_AGE_DAYS, ge=0)

    def stored(self) -> dict[str, Any]:
        return {
            "limite_diario_mensagens": self.daily_message_cap,
            "idade_maxima_venda_dias": self.max_sale_age_days,
        }


class RfmThresholds(_Model):
    """Per score (1–5) a ``[min, max]`` bucket (``max: null`` = no limit): recency in days
    since the last purchase, frequency in purchases, monetary in reais (domain.rfm)."""

    recency_days: dict[int, tuple[float, float | None]]
    frequency: dict[int, tuple[float, float | None]]
    monetary: dict[int, tuple[float, float | None]]

    @model_validator(mode="after")
    def _five_scores(self) -> RfmThresholds:
        for name in ("recency_days", "frequency", "monetary"):
            if set(getattr(self, name)) != {1, 2, 3, 4, 5}:
                raise ValueError(f"rfm_thresholds.{name} needs one bucket for each score 1..5")
        return self

    def stored(self) -> dict[str, Any]:
        return {
            name: {str(k): list(v) for k, v in sorted(getattr(self, name).items())}
            for name in ("recency_days", "frequency", "monetary")
        }


class OrgFile(EngagementConfig):
    id: str = Field(pattern=ORG_ID_PATTERN)
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    timezone: str = DEFAULT_TIMEZONE
    # Sales dated before this day load as history only (no cashback, campaigns, messages).
    # Default: the day the integration was first activated.
    effects_start: date | None = None
    integration: IntegrationConfig | None = None
    campaign_settings: CampaignSettings = Field(default_factory=CampaignSettings)
    # The organization's own RFM buckets (the old CONFIG_RFM); omitted: quintiles.
    rfm_thresholds: RfmThresholds | None = None

    def secret_references(self) -> dict[str, str]:
        """Field -> environment variable, for each secret the file gives by reference."""
        references: dict[str, str] = {}
        if self.integration is not None:
            extra = self.integration.model_extra or {}
            for key in CONNECTORS[self.integration.type].secret_keys:
                if isinstance(extra.get(env_key(key)), str):
                    references[f"integration.{env_key(key)}"] = extra[env_key(key)]
        connection = self.whatsapp.connection if self.whatsapp is not None else None
        for field in ("token_env", "secret_env"):  # a Cloud API token, a gateway's secret
            if getattr(connection, field, None):
                references[f"whatsapp.connection.{field}"] = getattr(connection, field)
        return references

    def secret_values(self) -> list[str]:
        """Every secret the file gives or names that this environment can see (to keep them
        out of whatever is printed about the file)."""
        values = [os.environ.get(name, "") for name in self.secret_references().values()]
        if self.integration is not None:
            extra = self.integration.model_extra or {}
            values += [str(extra[key]) for key in CONNECTORS[self.integration.type].secret_keys
                       if extra.get(key)]  # fmt: skip
        token = getattr(self.whatsapp.connection, "token", None) if self.whatsapp else None
        if token is not None:
            values.append(token.get_secret_value())
        return [value.strip() for value in values if value.strip()]

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. {DEFAULT_TIMEZONE})") from None
        return value


def load_org_file(path: Path) -> OrgFile:
    """Read and validate an org file, or raise OrgFileError listing every problem."""
    try:
        size = path.stat().st_size
        if size > MAX_ORG_FILE_BYTES:
            raise OrgFileError(
                f"{path}: {size:,} bytes; an organization file has at most {MAX_ORG_FILE_BYTES:,}"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OrgFileError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise OrgFileError(f"{path}: not UTF-8 text (byte {error.start})") from None
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise OrgFileError(f"{path}: expected a mapping at the top level")
    try:
        return OrgFile.model_validate(data)
    except ValidationError as error:
        problems = "\n".join(f"  - {p}" for p in validation_problems(error, whole="(file)"))
        raise OrgFileError(f"{path}: invalid organization file:\n{problems}") from None


def _parse(path: Path, text: str) -> Any:
    """The file's data. A parse error is reported by position and problem only: the line it
    quotes could be a secret."""
    kind: Literal["json", "yaml"] = "json" if path.suffix.lower() == ".json" else "yaml"
    try:
        if kind == "json":
            return json.loads(text, object_pairs_hook=_unique_keys)
        return yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506 (a SafeLoader)
    except json.JSONDecodeError as error:
        problem = f"{error.msg} at line {error.lineno}, column {error.colno}"
    except yaml.MarkedYAMLError as error:
        problem = _yaml_problem(error)
    except (yaml.YAMLError, ValueError) as error:
        problem = str(error)
    except RecursionError:
        problem = "nested too deeply"
    raise OrgFileError(f"{path}: not valid {kind.upper()}: {problem}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"duplicate key {', '.join(map(repr, repeated))}")
    return dict(pairs)


class _StrictYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader minus what an organization file never needs and only hides
    mistakes: a key given twice (the last would silently win) and aliases (`*x`, which can
    expand a small file into an enormous document)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):
                continue  # an unhashable key: PyYAML itself refuses it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _yaml_problem(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    context = f"{error.context}, " if error.context else ""
    return f"{context}{error.problem}{where}"
