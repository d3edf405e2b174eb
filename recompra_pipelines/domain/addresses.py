"""Delivery addresses of buyers, kept as client locations
(docs/decisions.md#d-07-delivery-addresses-are-kept)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from recompra_pipelines.domain.names import clean_name, name_match_key


@dataclass(frozen=True)
class DeliveryAddress:
    street: str
    number: str | None = None
    complement: str | None = None
    neighborhood: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    reference: str | None = None
    latitude: str | None = None
    longitude: str | None = None

    @property
    def key(self) -> str:
        """One location per real address of a client: spelling, case, accents and the postal
        code's punctuation do not make a new one; reference and coordinates are not identity."""
        parts = (
            self.street, self.number, self.complement, self.neighborhood, self.city, self.state,
        )  # fmt: skip
        text = "|".join(name_match_key(p) for p in parts)
        text += "|" + "".join(c for c in (self.postal_code or "") if c.isdigit())
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def as_record(self) -> dict[str, str | None]:
        return {**asdict(self), "key": self.key}


def delivery_address(fields: dict) -> DeliveryAddress | None:
    """An address from loose text fields, or None when there is no street to deliver to."""
    cleaned = {
        name: (clean_name(str(value)) or None) if value is not None else None
        for name, value in fields.items()
    }
    if not cleaned.get("street"):
        return None
    return DeliveryAddress(**cleaned)
