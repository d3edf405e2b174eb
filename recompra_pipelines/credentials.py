"""Credentials (ERP tokens and keys, WhatsApp tokens): where they live, how a run gets them,
and how they are kept out of everything else.

Where a credential lives. The CRM application writes tokens itself (an ERP token in
`organizations.integracao_configuracao`, a WhatsApp token in `whatsapp_connections.token`),
and those keep working. An org file may instead name the environment variable that holds one
(`token_env`, `api_key_env`: a secret's key with the suffix `_env`). Such a reference is stored
as the variable's name, never its value, and resolved when a run needs the secret, in the
run's own environment: the database, its backups and whoever reads them never see it.

Where it must never appear. Errors, readings, check descriptions, logs and tracebacks carry
text that an ERP or Meta sent back, and servers echo credentials (an "invalid token X" page, a
body repeating the request). Such text passes through a `Redactor` holding the secrets in
play, which replaces each one, also in its escaped spellings (JSON, PHP's `\\/`, URL quoting),
by `[redacted]` before the text is stored, logged or raised.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

# `<key>_env` names the environment variable holding the secret `<key>`.
ENV_SUFFIX = "_env"
REDACTED = "[redacted]"
# Shorter values are left alone: replacing every "abc" of a response would destroy it, and a
# secret that short protects nothing anyway.
MIN_REDACTED_LENGTH = 6


class MissingSecret(LookupError):
    """A secret given by reference whose environment variable is not set."""


def env_key(key: str) -> str:
    """The config key that names the environment variable of secret `key`."""
    return key + ENV_SUFFIX


def from_env(name: str, *, what: str, environ: Mapping[str, str] = os.environ) -> str:
    """The value of environment variable `name`, or MissingSecret naming `what` needs it."""
    value = environ.get(name, "").strip()
    if not value:
        raise MissingSecret(f"{what}: environment variable {name} is not set")
    return value


def resolved(
    config: Mapping[str, Any],
    secret_keys: Iterable[str],
    *,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, Any]:
    """`config` with each secret given by reference (`<key>_env`) replaced by its value under
    `<key>`, as the connector expects it. A secret stored directly is kept as it is."""
    result = dict(config)
    for key in secret_keys:
        name = result.pop(env_key(key), None)
        if name is not None:
            result[key] = from_env(str(name), what=env_key(key), environ=environ)
    return result


class Redactor:
    """Replaces the given secrets, in every spelling a server may echo them in, by REDACTED."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_REDACTED_LENGTH:
                continue
            escaped = json.dumps(secret)[1:-1]
            forms |= {secret, escaped, escaped.replace("/", "\\/"), quote(secret, safe="")}
            forms.add(quote_plus(secret))
        # Longest first, so a spelling containing another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)
        self._byte_forms = [form.encode() for form in self._forms]

    def text(self, value: str) -> str:
        for form in self._forms:
            if form in value:
                value = value.replace(form, REDACTED)
        return value

    def bytes(self, data: bytes) -> bytes:
        for form in self._byte_forms:
            if form in data:
                data = data.replace(form, REDACTED.encode())
        return data
