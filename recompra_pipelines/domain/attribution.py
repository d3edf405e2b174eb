"""Crediting a sale to the message that brought the client back
(docs/business-rules.md#attribution).

Last touch: the most recent message accepted by WhatsApp within the campaign's window before
the sale. The client's buying pattern before the sale classifies the conversion; unlike the old
code, only valid sales count as history (a cancelled sale is not a purchase).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

REACTIVATION_DAYS = 90


@dataclass(frozen=True)
class BuyingPattern:
    previous_purchases: int
    average_ticket: Decimal | None
    cycle_days: int | None  # mean gap between consecutive previous purchases
    days_since_last: int | None

    @property
    def reliable_cycle(self) -> bool:
        return self.previous_purchases >= 3


def conversion_type(pattern: BuyingPattern) -> str:
    if pattern.previous_purchases == 0 or pattern.days_since_last is None:
        return "AQUISICAO"
    days = pattern.days_since_last
    if not pattern.reliable_cycle or pattern.cycle_days is None:
        return "REATIVACAO" if days > REACTIVATION_DAYS else "REGULAR"
    cycle = pattern.cycle_days
    if days > min(3 * cycle, REACTIVATION_DAYS):
        return "REATIVACAO"
    if days < cycle:
        return "ACELERACAO"
    if days > cycle:
        return "ATRASADA"
    return "REGULAR"


@dataclass(frozen=True)
class Deltas:
    frequency: int | None
    monetary_absolute: Decimal | None
    monetary_percent: Decimal | None


def deltas(pattern: BuyingPattern, sale_value: Decimal) -> Deltas:
    ticket = pattern.average_ticket
    frequency = (
        pattern.cycle_days - pattern.days_since_last
        if pattern.cycle_days is not None and pattern.days_since_last is not None
        else None
    )
    absolute = (
        (sale_value - ticket).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if ticket is not None
        else None
    )
    percent = (
        ((sale_value / ticket - 1) * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if ticket is not None and ticket > 0
        else None
    )
    return Deltas(frequency=frequency, monetary_absolute=absolute, monetary_percent=percent)
