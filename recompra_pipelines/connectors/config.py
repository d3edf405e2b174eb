"""Helpers for connectors' integration-config models (the org file's `integration` section)."""

from __future__ import annotations

import os
import re

from pydantic import SecretStr

HTTP_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")


def http_url(value: str | None, field: str = "server_url") -> str | None:
    if value is not None and not HTTP_URL.match(value):
        raise ValueError(f"{field} must be an http(s) URL, got {value!r}")
    return value


def resolve_secret(value: SecretStr | None, env_name: str | None, field: str) -> SecretStr:
    """The secret given inline or through `<field>_env`, so org files can be committed."""
    if (value is None) == (env_name is None):
        raise ValueError(f"give exactly one of {field} or {field}_env")
    if env_name is not None:
        found = os.environ.get(env_name, "").strip()
        if not found:
            raise ValueError(f"{field}_env: environment variable {env_name} is not set")
        value = SecretStr(found)
    if not value.get_secret_value().strip():
        raise ValueError(f"{field} is empty")
    return value
