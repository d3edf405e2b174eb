"""What a connector's `fetch_day` returns: the ERP's answer for one day, ready to be stored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class RawExtract:
    """One ERP response exactly as received (its bytes), with the request minus its secrets.

    `content` is what gets stored and hashed: equal bytes mean nothing changed at the ERP, so
    the rest of the sync can skip the day. `text` is how it is read.
    """

    request: dict
    status_code: int
    content: bytes
    attempts: int
    content_hash: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_hash", content_hash(self.content))

    @classmethod
    def from_text(cls, *, request: dict, status_code: int, text: str, attempts: int) -> RawExtract:
        """An extract a connector assembles itself (several responses in one JSON document)."""
        return cls(
            request=request, status_code=status_code, content=text.encode(), attempts=attempts
        )

    @cached_property
    def text(self) -> str:
        return extract_text(self.content)


def extract_text(content: bytes) -> str:
    """A stored extract as text. ERP answers are JSON, which is UTF-8 (RFC 8259): a byte that is
    not reads as U+FFFD, while the stored bytes stay exactly as received for any later reading."""
    return content.decode("utf-8", "replace")


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
