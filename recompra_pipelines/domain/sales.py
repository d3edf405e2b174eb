"""The canonical sale: what every ERP connector maps its wire records to, and the rules on it.

A connector turns one wire record into a `CanonicalSale` or raises `RecordRejected` naming the
field; everything after that (matching, staging, upserts, effects) is ERP-agnostic. What a
record is (a sale, a cancelled one, something else) is the connector's decision, given as a
neutral `SaleStatus`; the ERP's own codes (natures, situations) are kept as it sent them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

from recompra_pipelines.domain.addresses import DeliveryAddress
from recompra_pipelines.json_codec import canonical_bytes


class SaleStatus(StrEnum):
    """What a record is, as its connector decides from the ERP's own codes."""

    # A sale that took place: it counts (cashback, campaigns, counters) when its total is
    # positive.
    COMPLETED = "COMPLETED"
    # A sale the ERP says was cancelled.
    CANCELLED = "CANCELLED"
    # Another kind of record the ERP lists among sales (a quote, a transfer, a return): stored,
    # never counted.
    NOT_A_SALE = "NOT_A_SALE"


# `sales.natureza` as the CRM application reads it, for an ERP without natures of its own:
# the CRM counts `SN01` as a sale (its RFM and reports filter on it).
CRM_NATURES = {
    SaleStatus.COMPLETED: "SN01",
    SaleStatus.CANCELLED: "CANCELADO",
    SaleStatus.NOT_A_SALE: "N/A",
}


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
    status: SaleStatus
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
    # The ERP's own nature code (Online Software's `natureza`), when it has one; stored as
    # `sales.natureza`, else the CRM's code for the status (CRM_NATURES).
    nature: str | None = None
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
    def valid(self) -> bool:
        """A sale counts (cashback, campaigns, counters) when it is a completed sale with value.

        The old code only looked at the nature, yet treated a value of 0 as a cancellation;
        requiring both keeps "valid" and "cancelled" exact opposites
        (docs/decisions.md#d-01-a-sale-is-valid-when-its-nature-is-a-sale-and-it-has-value).
        """
        return self.status is SaleStatus.COMPLETED and self.total > 0

    @property
    def stored_nature(self) -> str:
        """`sales.natureza`: the ERP's nature, else the CRM's code for the status."""
        return self.nature or CRM_NATURES[self.status]


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
    # Repeats dropped in favour of the occurrence kept (identical ones, or an ERP's cash-movement
    # lines that repeat a sale's id).
    dropped: list[Occurrence[T]]
    # Ids whose occurrences cannot be told apart: every occurrence goes to quarantine.
    ambiguous: dict[str, list[Occurrence[T]]]


def keep_identical_repeats(occurrences: Sequence[Occurrence[T]]) -> RepeatedIdResolution[T]:
    """One occurrence per external id, for an ERP that does not repeat ids on purpose: identical
    repeats (same content hash) collapse into one; an id listed with different contents cannot
    be told apart and is ambiguous (quarantined, never guessed)."""
    return resolve_repeated_ids(occurrences, pick=lambda distinct: None)


def resolve_repeated_ids(
    occurrences: Sequence[Occurrence[T]],
    pick: Callable[[list[Occurrence[T]]], Occurrence[T] | None],
) -> RepeatedIdResolution[T]:
    """Keep one occurrence per external id: identical repeats collapse; for an id listed with
    different contents, `pick` names the real sale among its distinct occurrences, or None when
    none can be told apart (the group is then ambiguous)."""
    by_id: dict[str, list[Occurrence[T]]] = {}
    for occurrence in occurrences:
        by_id.setdefault(occurrence.sale.external_id, []).append(occurrence)

    kept: list[Occurrence[T]] = []
    dropped: list[Occurrence[T]] = []
    ambiguous: dict[str, list[Occurrence[T]]] = {}
    for external_id, group in by_id.items():
        distinct = _distinct_by_content(group)
        winner = distinct[0] if len(distinct) == 1 else pick(distinct)
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
