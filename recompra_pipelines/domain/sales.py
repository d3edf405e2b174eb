"""The canonical sale: what every ERP connector maps its wire records to, and the rules on it.

A connector turns one wire record into a `CanonicalSale` or raises `RecordRejected` naming the
field; everything after that (matching, staging, upserts, effects) is ERP-agnostic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

from recompra_pipelines.domain.addresses import DeliveryAddress
from recompra_pipelines.json_codec import canonical_bytes

# Natures that make an Online Software record a sale
# (docs/erp-wire-formats.md#natures-and-status-codes).
VALID_NATURES = frozenset({"SN01", "NFCE"})

# Repeated ids ("troco" lines, docs/erp-wire-formats.md#repeated-ids-troco-lines): the real sale is
# the occurrence whose value equals its items' net total within this tolerance (the ERP vendor's own
# integration's figure).
ITEMS_TOTAL_TOLERANCE = Decimal("0.011")


class RemovalReason(StrEnum):
    """Why a sale was removed (``sales.remocao_motivo``)."""

    # Missing from two complete answers of the ERP for its day in a row: the first could be a
    # glitch, a later one confirms it. Listed again, it comes back as a new revision.
    ABSENT_FROM_ERP = "AUSENTE_DO_ERP"


def record_hash(record: Any) -> str:
    """Stable hash of a wire record: equal for equal content whatever the key order."""
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


# The field a rejection names when the record as a whole is the problem.
WHOLE_RECORD = "(registro)"


class RecordRejected(ValueError):
    """A wire record that cannot become a sale; `field` names the offending field."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class CanonicalItem:
    line: int
    product_code: str
    description: str
    unit: str | None
    group: str | None
    ncm: str | None
    product_type: str | None
    quantity: Decimal
    unit_price: Decimal
    gross: Decimal
    discount: Decimal
    net: Decimal
    unit_cost: Decimal
    total_cost: Decimal
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CanonicalSale:
    external_id: str
    business_date: date
    # The ERP's own time of the sale (aware, organization timezone), when it sends one.
    erp_time: datetime | None
    client_name: str | None
    client_phone: str | None
    client_external_id: str | None
    seller_name: str | None
    partner_code: str | None
    total: Decimal
    nature: str
    model: str
    series: str
    document: str
    movement: str
    sale_type: str | None
    situation: str
    access_key: str | None
    channel: str | None
    delivery_mode: str | None
    items: tuple[CanonicalItem, ...]
    # Hash of the wire record: equal hashes mean nothing about the sale changed at the ERP.
    content_hash: str
    # Order-level amounts of ERPs that send them (delivery apps); None when the ERP does not.
    discount_total: Decimal | None = None
    delivery_fee: Decimal | None = None
    service_fee: Decimal | None = None
    additional_fee: Decimal | None = None
    # The ERP's discount and payment lines as sent (JSON values), kept on the sale.
    discounts: tuple[dict[str, Any], ...] = ()
    payments: tuple[dict[str, Any], ...] = ()
    delivery_address: DeliveryAddress | None = None
    # Values the connector did not recognise but loaded anyway (enum drift), e.g.
    # "sales_channel: unknown value 'tiktok'": reported by the run, never a rejection.
    warnings: tuple[str, ...] = ()

    @property
    def items_net_total(self) -> Decimal:
        return sum((item.net for item in self.items), Decimal("0"))

    @property
    def total_cost(self) -> Decimal:
        return sum((item.total_cost for item in self.items), Decimal("0"))

    @property
    def looks_cancelled(self) -> bool:
        return self.total <= 0 or self.situation == "02"


def is_valid_sale(nature: str, total: Decimal) -> bool:
    """A sale counts (cashback, campaigns, counters) when its nature is a sale and it has value.

    The old code only looked at the nature, yet treated a value of 0 as a cancellation;
    requiring both keeps "valid" and "cancelled" exact opposites
    (docs/decisions.md#d-01-a-sale-is-valid-when-its-nature-is-a-sale-and-it-has-value).
    """
    return nature.strip().upper() in VALID_NATURES and total > 0


def first_line_per_product(sales: Iterable[CanonicalSale]) -> list[CanonicalItem]:
    """Each product code of the day once, as described on its first line in (sale id, line)
    order: a new product gets the same description whatever order the ERP lists the day in."""
    first: dict[str, CanonicalItem] = {}
    for sale in sorted(sales, key=lambda s: s.external_id):
        for item in sale.items:
            first.setdefault(item.product_code, item)
    return list(first.values())


T = TypeVar("T")


@dataclass(frozen=True)
class Occurrence(Generic[T]):
    """A parsed sale with whatever the caller needs to carry along (e.g. its raw record)."""

    sale: CanonicalSale
    payload: T


@dataclass(frozen=True)
class RepeatedIdResolution(Generic[T]):
    kept: list[Occurrence[T]]
    # Cash-movement ("troco") lines dropped in favour of the real sale with the same id.
    dropped: list[Occurrence[T]]
    # Ids whose occurrences cannot be told apart: every occurrence goes to quarantine.
    ambiguous: dict[str, list[Occurrence[T]]]


def resolve_repeated_ids(occurrences: Sequence[Occurrence[T]]) -> RepeatedIdResolution[T]:
    """Keep one occurrence per external id (docs/erp-wire-formats.md#repeated-ids-troco-lines).

    Online Software repeats a sale's id for cash movements: the same items with another value.
    Identical repeats collapse. Otherwise the real sale is the one whose value matches its
    items' net total; among several matches, or when none matches, a cancelled-looking one
    (value ≤ 0 or situação 02) wins when it is the only one. Anything else is ambiguous and is
    quarantined rather than guessed.
    """
    by_id: dict[str, list[Occurrence[T]]] = {}
    for occurrence in occurrences:
        by_id.setdefault(occurrence.sale.external_id, []).append(occurrence)

    kept: list[Occurrence[T]] = []
    dropped: list[Occurrence[T]] = []
    ambiguous: dict[str, list[Occurrence[T]]] = {}
    for external_id, group in by_id.items():
        distinct = _distinct_by_content(group)
        if len(distinct) == 1:
            kept.append(distinct[0])
            dropped.extend(o for o in group if o is not distinct[0])
            continue
        winner = _pick_real_sale(distinct)
        if winner is None:
            ambiguous[external_id] = group
        else:
            kept.append(winner)
            dropped.extend(o for o in group if o is not winner)
    return RepeatedIdResolution(kept=kept, dropped=dropped, ambiguous=ambiguous)


def _distinct_by_content(group: list[Occurrence[T]]) -> list[Occurrence[T]]:
    seen: dict[str, Occurrence[T]] = {}
    for occurrence in group:
        seen.setdefault(occurrence.sale.content_hash, occurrence)
    return list(seen.values())


def _pick_real_sale(group: list[Occurrence[T]]) -> Occurrence[T] | None:
    matching = [
        o for o in group if abs(o.sale.total - o.sale.items_net_total) <= ITEMS_TOTAL_TOLERANCE
    ]
    if len(matching) == 1:
        return matching[0]
    pool = matching or group
    cancelled = [o for o in pool if o.sale.looks_cancelled]
    if len(cancelled) == 1:
        return cancelled[0]
    return None
