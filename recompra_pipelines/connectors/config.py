"""Helpers for connectors' integration-config models (the org file's `integration` section)."""

from __future__ import annotations

import re

from pydantic import SecretStr

from recompra_pipelines.credentials import env_key

HTTP_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


MAX_URL_LENGTH = 2000


def http_url(value: str | None, field: str = "server_url") -> str | None:
    if value is not None and len(value) > MAX_URL_LENGTH:
        raise ValueError(f"{field} is {len(value):,} characters long; at most {MAX_URL_LENGTH}")
    if value is not None and not HTTP_URL.match(value):
        raise ValueError(f"{field} must be an http(s) URL, got {value!r}")
    return value


def check_secret(value: SecretStr | None, env_name: str | None, field: str) -> None:
    """Exactly one of the secret itself or the environment variable holding it
    (`<field>_env`, so org files can be committed). The variable is read when a run needs the
    secret, in the run's environment (recompra_pipelines.credentials)."""
    if (value is None) == (env_name is None):
        raise ValueError(f"give exactly one of {field} or {env_key(field)}")
    if env_name is not None and not ENV_NAME.match(env_name):
        raise ValueError(f"{env_key(field)}: {env_name[:60]!r} is not an environment variable name")
    if value is not None and not value.get_secret_value().strip():
        raise ValueError(f"{field} is empty")
