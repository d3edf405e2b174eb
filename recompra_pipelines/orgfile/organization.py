"""The `recompra org apply` file: an organization and everything it is configured with.

YAML or JSON. The organization part is defined here; the engagement sections (cashback
program, WhatsApp, campaigns) in `orgfile.engagement`. Secrets can be given through
environment variables (`token_env`) so the file itself can be committed.
See README "Organizations" and `examples/`.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from recompra_pipelines.connectors.registry import CONNECTORS
from recompra_pipelines.orgfile.engagement import EngagementConfig

# Organization ids are Dagster partition keys: no `|`, `,` or spaces (DESIGN §4).
ORG_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class OrgFileError(ValueError):
    """An org file that cannot be applied; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntegrationConfig(_Model):
    """The ERP connection. `type` accepts `ONLINE-SOFTWARE` or `online-software`."""

    type: str
    active: bool = True
    server_url: str | None = None
    token: SecretStr | None = None
    token_env: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        normalized = value.strip().upper().replace("_", "-")
        if normalized not in CONNECTORS:
            raise ValueError(
                f"unknown integration type {value!r}; known: {', '.join(sorted(CONNECTORS))}"
            )
        return normalized

    @field_validator("server_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/$.?#][^\s]*$", value):
            raise ValueError(f"server_url must be an http(s) URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _resolve_token(self) -> IntegrationConfig:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give exactly one of token or token_env")
        if self.token_env is not None:
            value = os.environ.get(self.token_env, "").strip()
            if not value:
                raise ValueError(f"token_env: environment variable {self.token_env} is not set")
            self.token = SecretStr(value)
        if not self.token.get_secret_value().strip():
            raise ValueError("token is empty")
        return self

    def stored_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"token": self.token.get_secret_value()}
        if self.server_url:
            config["server_url"] = self.server_url
        return config


class OrgFile(EngagementConfig):
    id: str = Field(pattern=ORG_ID_PATTERN)
    name: str = Field(min_length=1)
    timezone: str = "America/Sao_Paulo"
    # Sales dated before this day load as history only (no cashback, campaigns, messages).
    # Default: the day the integration was first activated.
    effects_start: date | None = None
    integration: IntegrationConfig | None = None

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. America/Sao_Paulo)") from None
        return value


def load_org_file(path: Path) -> OrgFile:
    """Read and validate an org file, or raise OrgFileError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OrgFileError(f"{path}: cannot read ({error.strerror})") from None
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise OrgFileError(f"{path}: expected a mapping at the top level")
    try:
        return OrgFile.model_validate(data)
    except ValidationError as error:
        problems = "\n".join(
            f"  - {'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise OrgFileError(f"{path}: invalid organization file:\n{problems}") from None


def _parse(path: Path, text: str) -> Any:
    kind: Literal["json", "yaml"] = "json" if path.suffix.lower() == ".json" else "yaml"
    try:
        return json.loads(text) if kind == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise OrgFileError(f"{path}: not valid {kind.upper()}: {error}") from None
