"""The org file's `integration` section for Example ERP: the store, its API key, the server."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from recompra_pipelines.connectors.base import ConnectorConfig
from recompra_pipelines.connectors.config import check_secret, http_url


class ExampleConfig(ConnectorConfig):
    store_code: str = Field(min_length=1, max_length=50)
    server_url: str
    # A SecretStr field is a credential: redacted everywhere, or given as `api_key_env`.
    api_key: SecretStr | None = None
    api_key_env: str | None = None

    @field_validator("server_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @model_validator(mode="after")
    def _key_or_reference(self) -> ExampleConfig:
        check_secret(self.api_key, self.api_key_env, "api_key")
        return self
