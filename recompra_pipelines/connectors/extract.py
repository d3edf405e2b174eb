"""What a connector's `fetch_day` returns: the ERP's answer for one day, ready to be stored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class RawExtract:
    """One ERP response exactly as received, with the request minus its secrets.

    `text` is what gets stored and hashed: equal text means nothing changed at the ERP, so the
    rest of the sync can skip the day.
    """

    request: dict
    status_code: int
    text: str
    content_hash: str
    attempts: int


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
