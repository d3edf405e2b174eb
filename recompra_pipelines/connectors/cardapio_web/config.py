"""The org file's `integration` section for CardápioWeb: merchant id and API key.

The rate limits default to the documented ones; they are configurable so a simulator (or a
merchant with a raised limit) can go faster.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from recompra_pipelines.connectors.base import ConnectorConfig
from recompra_pipelines.connectors.cardapio_web.schema import (
    DETAILS_PER_MINUTE,
    HISTORY_PER_MINUTE,
)
from recompra_pipelines.connectors.config import check_secret, http_url


class CardapioWebConfig(ConnectorConfig):
    merchant_id: str = Field(min_length=1, max_length=100)
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    server_url: str | None = None
    history_per_minute: float = Field(HISTORY_PER_MINUTE, gt=0)
    details_per_minute: float = Field(DETAILS_PER_MINUTE, gt=0)

    @field_validator("merchant_id", mode="before")
    @classmethod
    def _merchant_as_text(cls, value: Any) -> Any:
        return str(value).strip() if isinstance(value, int | str) else value

    @field_validator("server_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return http_url(value)

    @model_validator(mode="after")
    def _key_or_reference(self) -> CardapioWebConfig:
        check_secret(self.api_key, self.api_key_env, "api_key")
        return self
