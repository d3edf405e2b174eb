"""Purchase-triggered campaigns: when a campaign fires for a sale, and what the interaction is.

Pure rules (docs/business-rules.md#campaign-triggers), fixed where the old code was wrong
(docs/decisions.md#d-16-campaign-triggers-read-the-clients-whole-history):
- triggers are decided from the client's whole history of valid sales (the n-th purchase, the
  running total), not from "the client was created in this run", so re-runs and backfills agree;
- VALOR-TOTAL-COMPRAS fires when the running total crosses the threshold (Decimal, not float
  equality); QUANTIDADE-TOTAL-COMPRAS when the count reaches it;
- schedule dates are organization-local (the old code formatted them in UTC);
- frequency rules and the daily cap are measured at the trigger's own time, so a backfill
  decides like the original run would have.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from recompra_pipelines.domain.campaign_triggers import trigger_definition
from recompra_pipelines.domain.cashback import rate_amount
from recompra_pipelines.domain.keys import event_interaction_key, purchase_interaction_key
from recompra_pipelines.domain.segments import DEFAULT_SEGMENT
from recompra_pipelines.domain.vocabulary import SkipReason, TimeUnit


@dataclass(frozen=True)
class Period:
    value: int
    unit: TimeUnit | str  # a TimeUnit, or its stored string

    def add_to(self, day: date) -> date:
        if self.unit == TimeUnit.DAYS:
            return day + timedelta(days=self.value)
        if self.unit == TimeUnit.WEEKS:
            return day + timedelta(weeks=self.value)
        months = self.value * (12 if self.unit == TimeUnit.YEARS else 1)
        month_index = day.month - 1 + months
        year, month = day.year + month_index // 12, month_index % 12 + 1
        return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))

    def before(self, moment: datetime) -> datetime:
        """`moment` minus this period (calendar arithmetic on the date part)."""
        back = Period(-self.value, self.unit)
        return datetime.combine(back.add_to(moment.date()), moment.timetz())


@dataclass(frozen=True)
class Campaign:
    id: Any
    title: str
    trigger: str
    segmentations: frozenset[str]
    new_purchase_minimum: Decimal | None = None
    purchase_count: int | None = None
    purchase_total: Decimal | None = None
    new_cashback_minimum: Decimal | None = None
    total_cashback_minimum: Decimal | None = None
    allow_repeat: bool = True
    min_interval: Period | None = None
    delay: Period | None = None
    block: str | None = None
    cashback_type: str | None = None  # FIXO | PERCENTUAL when the campaign grants cashback
    cashback_value: Decimal | None = None
    cashback_expiry: Period | None = None
    # Daily triggers (domain.lifecycle): PERMANÊNCIA time in segment, CASHBACK-EXPIRANDO
    # notice, RECORRENTE calendar.
    time_in_segment: Period | None = None
    notice: Period | None = None
    recurrence_type: str | None = None  # DIARIO | SEMANAL | MENSAL
    recurrence_interval: int | None = None
    recurrence_weekdays: tuple[int, ...] | None = None  # 0 = Sunday
    recurrence_month_days: tuple[int, ...] | None = None
    recurrence_start: date | None = None
    # Sends a MARKETING template (or none yet): subject to the client's opt-out.
    marketing: bool = True


@dataclass(frozen=True)
class Trigger:
    """A non-purchase trigger event for one client (segment entry, birthday, expiring
    cashback, a recurrent day): it goes through the same `decide` / `insert_interactions`
    path as a purchase. `key` is the event's part of the idempotency key
    (e.g. `aniversario:2026`), `context` the template `metadados`."""

    client_id: Any
    time: datetime  # when the event happened (aware): frequency and cap are measured here
    key: str
    title: str  # the interaction's title
    context: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    sale_id: Any = None
    value: Decimal = Decimal("0")  # base of a PERCENTUAL campaign cashback (none: FIXO only)
    sale_content_revision: int = 0


@dataclass(frozen=True)
class Purchase:
    """One valid sale with a client, and where it stands in the client's history."""

    sale_id: Any
    sale_revision: int
    client_id: Any
    value: Decimal
    time: datetime  # best-known time of the sale (aware)
    position: int  # 1 = the client's first valid sale
    running_total: Decimal  # the client's valid sales up to and including this one
    rfm_title: str | None
    seller_name: str | None
    # The buyer's program accrual for this sale revision (after the ledger step) and the
    # available balance right after it; None when the sale earned nothing.
    cashback_accrued: Decimal | None = None
    cashback_balance_after: Decimal | None = None
    # How many times the ERP edited the sale's value: a campaign's cashback is decided again
    # for each (the ledger's keys carry it).
    sale_content_revision: int = 0


def fires(campaign: Campaign, purchase: Purchase) -> bool:
    """Whether the sale meets the campaign's trigger and segmentation."""
    return in_segment(campaign, purchase.rfm_title) and meets_trigger(campaign, purchase)


def meets_trigger(campaign: Campaign, purchase: Purchase) -> bool:
    """Whether the sale, as it stands in the client's history now, meets the campaign's
    trigger condition (segmentation aside: a client's segment moves every night, while a
    sale's own facts — its value, its place in the history — only move when the ERP says
    so). An unsent interaction whose sale no longer meets it is withdrawn."""
    meets = trigger_definition(campaign.trigger).meets
    return meets is not None and meets(campaign, purchase)


def in_segment(campaign: Campaign, rfm_title: str | None) -> bool:
    """An empty segmentation list means every client (the old code read it as "nobody" for
    some triggers and "everybody" for others; one meaning is easier to reason about)."""
    return not campaign.segmentations or (rfm_title or DEFAULT_SEGMENT) in campaign.segmentations


def idempotency_key(campaign: Campaign, purchase: Purchase | Trigger) -> str:
    """One interaction per campaign, client and sale revision, or per campaign,
    client and trigger event."""
    if isinstance(purchase, Trigger):
        return event_interaction_key(campaign.id, purchase.client_id, purchase.key)
    return purchase_interaction_key(
        campaign.id, purchase.client_id, purchase.sale_id, purchase.sale_revision
    )


def schedule(
    campaign: Campaign, trigger_time: datetime, timezone: ZoneInfo
) -> tuple[date, str | None]:
    """Organization-local send date and block; no block means "send now"."""
    local_day = trigger_time.astimezone(timezone).date()
    if trigger_definition(campaign.trigger).own_block and campaign.block is not None:
        return local_day, campaign.block  # a recurrent campaign goes out in its own block
    if campaign.delay is None or campaign.delay.value == 0:
        return local_day, None
    return campaign.delay.add_to(local_day), campaign.block


@dataclass(frozen=True)
class PastInteraction:
    campaign_id: Any
    client_id: Any
    trigger_time: datetime
    local_day: date
    counts_for_cap: bool = True


@dataclass(frozen=True)
class Decision:
    campaign: Campaign
    purchase: Purchase | Trigger
    skip_reason: SkipReason | None = None  # None: send


@dataclass
class _History:
    by_pair: dict[tuple[Any, Any], list[datetime]] = field(default_factory=dict)
    per_client_day: dict[tuple[Any, date], int] = field(default_factory=dict)

    def add(
        self, campaign_id: Any, client_id: Any, at: datetime, local_day: date, counts: bool
    ) -> None:
        self.by_pair.setdefault((campaign_id, client_id), []).append(at)
        if counts:
            key = (client_id, local_day)
            self.per_client_day[key] = self.per_client_day.get(key, 0) + 1


def decide(
    candidates: Iterable[tuple[Campaign, Purchase | Trigger]],
    history: Iterable[PastInteraction],
    timezone: ZoneInfo,
    daily_cap: int | None,
) -> list[Decision]:
    """Apply frequency rules and the daily cap, in trigger-time order
    (docs/decisions.md#d-18-frequency-and-a-daily-cap-measured-at-the-triggers-time-skips-recorded).

    `history` holds the interactions that count (sent or pending, not skipped or cancelled).
    Candidates decided earlier in the batch count for later ones, so two sales of one client
    in one run cannot both pass a once-only campaign. Candidates of the same time keep the
    order given: callers list purchases by (time, ERP id) and campaigns by key, so which of
    two same-time candidates passes never depends on a random id.
    """
    state = _History()
    for past in history:
        state.add(
            past.campaign_id, past.client_id, past.trigger_time, past.local_day, past.counts_for_cap
        )
    decisions = []
    for campaign, purchase in sorted(candidates, key=lambda c: c[1].time):
        local_day = purchase.time.astimezone(timezone).date()
        previous = state.by_pair.get((campaign.id, purchase.client_id), [])
        if not _frequency_allows(campaign, previous, purchase.time):
            decisions.append(Decision(campaign, purchase, SkipReason.FREQUENCY))
            continue
        if (
            daily_cap is not None
            and state.per_client_day.get((purchase.client_id, local_day), 0) >= daily_cap
        ):
            decisions.append(Decision(campaign, purchase, SkipReason.DAILY_CAP))
            continue
        state.add(campaign.id, purchase.client_id, purchase.time, local_day, True)
        decisions.append(Decision(campaign, purchase))
    return decisions


def _frequency_allows(campaign: Campaign, previous: Sequence[datetime], at: datetime) -> bool:
    if not campaign.allow_repeat:
        return not previous
    if campaign.min_interval is None or campaign.min_interval.value == 0:
        return True
    since = campaign.min_interval.before(at)
    return not any(since < moment <= at for moment in previous)


def campaign_cashback(campaign: Campaign, purchase_value: Decimal) -> Decimal | None:
    """The campaign's own cashback for a purchase (docs/business-rules.md#campaign-cashback), by the
    ledger's one rate rule."""
    if campaign.cashback_type is None or campaign.cashback_value is None:
        return None
    amount = rate_amount(campaign.cashback_type, campaign.cashback_value, purchase_value)
    return amount if amount > 0 else None


def campaign_cashback_expiry(campaign: Campaign, local_day: date) -> date:
    """The local day the campaign's cashback expires: its own period, else 30 days."""
    return (campaign.cashback_expiry or Period(30, TimeUnit.DAYS)).add_to(local_day)


def purchase_context(
    purchase: Purchase, balance_available: Decimal, balance_lifetime: Decimal
) -> dict[str, str | int]:
    """The `metadados` a template needs (docs/business-rules.md#interaction-context), money as exact
    decimal strings."""
    context: dict[str, str | int] = {
        "compraValor": str(purchase.value),
        "compraVendedorNome": purchase.seller_name or "",
        "compraQuantidadeTotal": purchase.position,
        "compraValorTotalAcumulado": str(purchase.running_total),
        "cashbackSaldoDisponivel": str(balance_available),
        "cashbackTotalAcumuladoVida": str(balance_lifetime),
        "dataGatilho": purchase.time.isoformat(),
    }
    if purchase.cashback_accrued is not None:
        context |= {
            "cashbackAcumuladoValor": str(purchase.cashback_accrued),
            "compraCashbackAcumulado": str(purchase.cashback_accrued),
            "compraCashbackNovoSaldo": str(purchase.cashback_balance_after),
        }
    return context


# A sale first seen more than this many days after its day triggers no campaign by default
# (organizations.configuracao.campanhas.idade_maxima_venda_dias).
DEFAULT_MAX_SALE_AGE_DAYS = 3


def eligible_for_effects(
    business_date: date,
    first_seen: datetime,
    timezone: ZoneInfo,
    effects_start: date | None,
    max_age_days: int,
) -> bool:
    """Effects policy: history before the effects start, and sales first seen long after their
    day (a late backfill), load without campaigns - nobody wants a "thanks for your purchase"
    weeks later."""
    if effects_start is not None and business_date < effects_start:
        return False
    return (first_seen.astimezone(timezone).date() - business_date).days <= max_age_days
