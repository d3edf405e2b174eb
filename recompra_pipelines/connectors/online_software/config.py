"""The org file's `integration` section for Online Software: a token and the server's URL."""

from __future__ import annotations

from pydantic import SecretStr, field_validator, model_validator

from recompra_pipelines.connectors.base import ConnectorConfig
from recompra_pipelines.connectors.config import check_secret, http_url


class OnlineSoftwareConfig(ConnectorConfig):
    server_url: str | None = None
    token: SecretStr | None = None
    token_env: str | None = None

    @field_validator("server_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return http_url(value)

    @model_validator(mode="after")
    def _token_or_reference(self) -> OnlineSoftwareConfig:
        check_secret(self.token, self.token_env, "token")
        return self
