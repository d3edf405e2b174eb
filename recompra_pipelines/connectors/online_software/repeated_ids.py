"""Online Software's repeated ids: one sale id listed again for its cash movements
(docs/erp-wire-formats.md#repeated-ids-troco-lines).

The ERP lists a sale's change ("troco") as a second record with the sale's id and items but
another value. Identical repeats collapse (domain.sales.resolve_repeated_ids); among
different ones the real sale is the occurrence whose value equals its items' net total;
among several matches, or when none matches, a cancelled-looking one (value <= 0 or situação
02) wins when it is the only one. Anything else is ambiguous and is quarantined rather than
guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar

from recompra_pipelines.domain.sales import (
    CanonicalSale,
    Occurrence,
    RepeatedIdResolution,
    resolve_repeated_ids,
)

# The real sale's value equals its items' net total within this tolerance (the ERP vendor's own
# integration's figure).
ITEMS_TOTAL_TOLERANCE = Decimal("0.011")
# `situacao` of a cancelled fiscal document.
CANCELLED_SITUATION = "02"

T = TypeVar("T")


def resolve_cash_repeats(occurrences: Sequence[Occurrence[T]]) -> RepeatedIdResolution[T]:
    return resolve_repeated_ids(occurrences, pick=pick_real_sale)


def looks_cancelled(sale: CanonicalSale) -> bool:
    return sale.total <= 0 or sale.situation == CANCELLED_SITUATION


def pick_real_sale(group: list[Occurrence[T]]) -> Occurrence[T] | None:
    """The real sale among distinct occurrences of one id, or None when it cannot be told."""
    matching = [
        o for o in group if abs(o.sale.total - o.sale.items_net_total) <= ITEMS_TOTAL_TOLERANCE
    ]
    if len(matching) == 1:
        return matching[0]
    pool = matching or group
    cancelled = [o for o in pool if looks_cancelled(o.sale)]
    if len(cancelled) == 1:
        return cancelled[0]
    return None
