"""Cashback rules: how much a sale earns, when a lot expires, and how debits consume lots.

Pure Python (no SQL, no Dagster), so every path that touches the ledger — the sync's
accrual and reversal, campaign cashback, point-of-sale redemption, the daily expiry — runs
the same rules, and the property tests can check them against a tiny model.

Vocabulary (docs/decisions.md#d-08-the-ledger-is-entries-lots-and-allocations):
- a *lot* is an accrual (ACÚMULO); its ``remaining`` is what is still spendable;
- a *debit* (RESGATE, EXPIRAÇÃO, CANCELAMENTO) consumes lots, and every consumption is an
  *allocation* (debit → lot, amount), so ``lot value − remaining = Σ allocations``;
- a *debt* is the part of a claw-back (policy ``SALDO-NEGATIVO``) that no lot could cover:
  the balance goes negative and the next accruals repay it first (again by allocations).

So, for every client, ``balance = Σ entry values = Σ remaining of active lots − Σ debts``,
and a debt exists only while the client has no active lot left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from recompra_pipelines.domain.local_time import local_midnight
from recompra_pipelines.domain.parsing import quantize_money
from recompra_pipelines.domain.vocabulary import (
    AmountType,
    ConsumedReversalPolicy,
    LedgerEntryKind,
    LotStatus,
)

ZERO = Decimal("0.00")


class ReversalReason(StrEnum):
    """Why an accrual was reversed (``metadados.motivo`` of its CANCELAMENTO)."""

    SALE_CANCELLED = "VENDA_CANCELADA"
    # The sale vanished from the ERP's complete answers for its day.
    SALE_REMOVED = "VENDA_REMOVIDA"
    # Cancelled and valid again: the new validity revision accrues anew.
    SALE_REVISED = "VENDA_REVISADA"
    # The ERP edited the sale's value: what it earned is decided again (``Book.revise``).
    SALE_EDITED = "VENDA_ALTERADA"
    BENEFICIARY_CHANGED = "BENEFICIARIO_ALTERADO"
    # The campaign interaction that granted it was withdrawn: the sale no longer qualifies.
    INTERACTION_WITHDRAWN = "INTERACAO_RETIRADA"


class CashbackError(ValueError):
    """A ledger operation that must not happen (the message says why)."""


class InsufficientBalance(CashbackError):
    pass


class RedemptionRejected(CashbackError):
    pass


# ------------------------------------------------------------------------------ amounts


def rate_amount(kind: AmountType, rate: Decimal, sale_value: Decimal) -> Decimal:
    """FIXO: ``rate`` reais; PERCENTUAL: ``rate`` percent of the sale, rounded once, half up."""
    if kind == AmountType.FIXED:
        return quantize_money(rate)
    if kind == AmountType.PERCENT:
        return quantize_money(sale_value * rate / 100)
    raise CashbackError(f"unknown amount type {kind!r}")


def accrual_amount(
    kind: AmountType, rate: Decimal, sale_value: Decimal, minimum_sale_value: Decimal
) -> Decimal:
    """What a sale earns (docs/business-rules.md#accrual): nothing below the program's minimum sale
    value; otherwise ``rate_amount``. The old code never rounded, so balances drifted by
    fractions of a centavo; here the amount is exact to the centavo from the start."""
    if sale_value <= 0 or sale_value < minimum_sale_value:
        return ZERO
    return max(rate_amount(kind, rate, sale_value), ZERO)


def redemption_cap(
    kind: AmountType | None, value: Decimal | None, sale_value: Decimal | None
) -> Decimal | None:
    """The most one redemption may take (``resgate_limite_tipo/valor``): a fixed
    amount, or a percentage of the sale being paid; ``None`` when the program sets no limit."""
    if kind is None or value is None:
        return None
    if kind == AmountType.PERCENT and sale_value is None:
        raise RedemptionRejected(
            "the program limits redemptions to a percentage of the sale: give the sale value"
        )
    return rate_amount(kind, value, sale_value or ZERO)


# ------------------------------------------------------------------------------ dates


def lot_expiry(sale_day: date, validity_days: int | None, timezone: ZoneInfo) -> datetime | None:
    """When a lot earned on ``sale_day`` (the sale's org-local business date) expires.

    Counted from the sale's date, not from when a sync happened to process it
    (docs/decisions.md#d-12-lots-expire-from-the-sales-date),
    so a backfill dates its lots like the live run would have: usable on ``validity_days``
    whole local days starting with the sale's day, expired at the start of the next one — the
    day whose expiry partition writes it off. ``None`` (no validity rule) never expires.
    """
    if validity_days is None:
        return None
    return local_midnight(sale_day.fromordinal(sale_day.toordinal() + validity_days), timezone)


def expiry_cutoff(day: date, timezone: ZoneInfo) -> datetime:
    """Lots with ``expiracao_data`` at or before this instant are due in day ``day``'s run."""
    return local_midnight(day, timezone)


# ------------------------------------------------------------------------------ lots and books


@dataclass
class OpenLot:
    """An accrual with something left to spend."""

    id: UUID
    remaining: Decimal
    expires_at: datetime | None
    effective_at: datetime
    # The lot's origin in business terms (its sale's ERP id and role, its campaign's key):
    # what decides between lots that expire and take effect together, the same in every
    # database, where the random id would not be.
    order_key: str = ""

    def fifo_key(self) -> tuple:
        """Earliest expiry first (never-expiring last), then oldest, then by origin."""
        return (
            self.expires_at is None,
            self.expires_at or self.effective_at,
            self.effective_at,
            self.order_key,
            str(self.id),
        )


@dataclass
class Debt:
    """The uncovered part of a claw-back, repaid by the client's next accruals, oldest first
    (a book keeps its debts in the order they arose)."""

    entry_id: UUID
    outstanding: Decimal


@dataclass
class ReversibleLot:
    """An accrual to reverse: its value, what is left, and how much of it expired."""

    id: UUID
    value: Decimal
    remaining: Decimal
    expired: Decimal
    status: LotStatus

    @property
    def used(self) -> Decimal:
        """The part spent (redeemed, or taken by a claw-back or a debt repayment)."""
        return self.value - self.remaining - self.expired


@dataclass
class PlannedEntry:
    """A ledger entry to insert; ``attributes`` carries the columns the rules do not decide
    (sale, campaign, key, metadata)."""

    id: UUID
    kind: LedgerEntryKind
    status: LotStatus
    amount: Decimal
    remaining: Decimal
    balance_before: Decimal
    balance_after: Decimal
    written_off: Decimal = ZERO
    expires_at: datetime | None = None
    origin_id: UUID | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Allocation:
    debit_id: UUID
    lot_id: UUID
    amount: Decimal


@dataclass
class Book:
    """One client's account in one program while a transaction holds its balance row.

    Starts from the locked balance, the open lots and the outstanding debts; every operation
    appends entries and allocations and moves the running balance, so each entry's
    before/after values are exact. The caller writes the result and applies ``delta``,
    ``accrued_delta`` and ``redeemed_delta`` to the balance row as SQL increments.
    """

    balance: Decimal
    lots: list[OpenLot]
    debts: list[Debt] = field(default_factory=list)
    entries: list[PlannedEntry] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)
    # Lot id -> amount taken from it in this book, and the status it gets if emptied.
    consumed: dict[UUID, Decimal] = field(default_factory=dict)
    emptied_status: dict[UUID, LotStatus] = field(default_factory=dict)
    delta: Decimal = ZERO
    accrued_delta: Decimal = ZERO
    redeemed_delta: Decimal = ZERO

    # -- operations ---------------------------------------------------------------------

    def accrue(
        self,
        amount: Decimal,
        *,
        expires_at: datetime | None,
        effective_at: datetime,
        attributes: dict[str, Any],
        lot_id: UUID | None = None,
        spent: Decimal = ZERO,
    ) -> PlannedEntry:
        """A new lot. Outstanding debts (oldest first) are repaid from it before it is usable.

        ``spent`` is a part already taken from it (with its allocation) by the caller:
        ``revise`` carries the old lot's redeemed part onto its replacement this way."""
        if amount <= 0:
            raise CashbackError(f"an accrual must be positive, got {amount}")
        lot_id = lot_id or uuid4()
        remaining = amount - spent
        for debt in self.debts:
            repaid = min(debt.outstanding, remaining)
            if repaid <= 0:
                continue
            debt.outstanding -= repaid
            remaining -= repaid
            self.allocations.append(Allocation(debt.entry_id, lot_id, repaid))
        self.debts = [d for d in self.debts if d.outstanding > 0]
        if remaining > 0:
            self.lots.append(OpenLot(lot_id, remaining, expires_at, effective_at))
        self.accrued_delta += amount
        return self._post(
            PlannedEntry(
                id=lot_id,
                kind=LedgerEntryKind.ACCRUAL,
                status=LotStatus.ACTIVE if remaining > 0 else LotStatus.CONSUMED,
                amount=amount,
                remaining=remaining,
                balance_before=ZERO,
                balance_after=ZERO,
                expires_at=expires_at,
                attributes=attributes,
            )
        )

    def reverse(
        self, lot: ReversibleLot, policy: ConsumedReversalPolicy, attributes: dict[str, Any]
    ) -> PlannedEntry:
        """Undo an accrual whose sale was cancelled
        (docs/decisions.md#d-13-a-cancellation-reverses-the-whole-accrual).

        What is left of the lot is taken back. The part already spent is either written off
        (``BAIXA``: recorded on the entry, the business absorbs it) or clawed back
        (``SALDO-NEGATIVO``: taken from the client's other lots, earliest expiry first, and
        what they cannot cover becomes a debt — a negative balance). The part that already
        expired is gone and stays gone. The lifetime accrued total loses the whole lot.
        A spent (CONSUMIDO) lot keeps its status: its history is never rewritten.
        """
        entry_id = uuid4()
        own = self._take_lot(lot.id, entry_id, lot.remaining, emptied_status=LotStatus.EXPIRED)
        used = lot.used
        written_off = used if policy == ConsumedReversalPolicy.WRITE_OFF else ZERO
        debit = own
        if policy == ConsumedReversalPolicy.CLAW_BACK and used > 0:
            covered = self._take_fifo(
                entry_id, used, usable_at=None, emptied_status=LotStatus.CONSUMED
            )
            if used - covered > 0:
                self.debts.append(Debt(entry_id, used - covered))
            debit += used
        self.accrued_delta -= lot.value
        return self._post(
            PlannedEntry(
                id=entry_id,
                kind=LedgerEntryKind.REVERSAL,
                status=LotStatus.ACTIVE,
                amount=-debit,
                remaining=ZERO,
                balance_before=ZERO,
                balance_after=ZERO,
                written_off=written_off,
                origin_id=lot.id,
                attributes=attributes,
            )
        )

    def revise(
        self,
        lot: ReversibleLot,
        new_amount: Decimal,
        policy: ConsumedReversalPolicy,
        *,
        reversal: dict[str, Any],
        accrual: dict[str, Any],
        expires_at: datetime | None,
        effective_at: datetime,
    ) -> tuple[PlannedEntry, PlannedEntry]:
        """Re-decide an accrual whose sale the ERP edited: the old lot is reversed and the
        new amount accrued, in this client's account, as one move.

        What the client already spent of the old lot was spent from the sale's cashback, so
        it is carried onto the new lot first (up to the new amount); only the part the new
        amount cannot cover follows the program's policy, as in a cancellation: written off
        (``BAIXA``) or clawed back (``SALDO-NEGATIVO``). Edit-down 100 → 40 at 10 % after
        R$ 6,00 of the R$ 10,00 were redeemed: the new R$ 4,00 lot is fully spent, and R$ 2,00
        is written off (balance 0) or owed (balance −2). Edit-up to 150: the new R$ 15,00 lot
        keeps R$ 9,00. Returns (CANCELAMENTO, ACÚMULO).
        """
        if new_amount <= 0:
            raise CashbackError(f"a revised accrual must be positive, got {new_amount}")
        entry_id, new_lot_id = uuid4(), uuid4()
        own = self._take_lot(lot.id, entry_id, lot.remaining, emptied_status=LotStatus.EXPIRED)
        used = lot.used
        carried = min(used, new_amount)
        rest = used - carried
        debit = own + carried
        written_off = rest if policy == ConsumedReversalPolicy.WRITE_OFF else ZERO
        if policy == ConsumedReversalPolicy.CLAW_BACK and rest > 0:
            covered = self._take_fifo(
                entry_id, rest, usable_at=None, emptied_status=LotStatus.CONSUMED
            )
            if rest - covered > 0:
                self.debts.append(Debt(entry_id, rest - covered))
            debit += rest
        self.accrued_delta -= lot.value
        cancellation = self._post(
            PlannedEntry(
                id=entry_id,
                kind=LedgerEntryKind.REVERSAL,
                status=LotStatus.ACTIVE,
                amount=-debit,
                remaining=ZERO,
                balance_before=ZERO,
                balance_after=ZERO,
                written_off=written_off,
                origin_id=lot.id,
                attributes=reversal,
            )
        )
        if carried > 0:
            self.allocations.append(Allocation(entry_id, new_lot_id, carried))
        replacement = self.accrue(
            new_amount,
            expires_at=expires_at,
            effective_at=effective_at,
            attributes=accrual,
            lot_id=new_lot_id,
            spent=carried,
        )
        return cancellation, replacement

    def redeem(self, amount: Decimal, *, now: datetime, attributes: dict[str, Any]) -> PlannedEntry:
        """Spend ``amount`` from lots still valid at ``now``, earliest expiry first."""
        if amount <= 0:
            raise RedemptionRejected(f"a redemption must be positive, got {amount}")
        available = self.spendable(now)
        if amount > available:
            raise InsufficientBalance(
                f"redemption of {amount} exceeds the spendable balance of {available}"
            )
        entry_id = uuid4()
        self._take_fifo(entry_id, amount, usable_at=now, emptied_status=LotStatus.CONSUMED)
        self.redeemed_delta += amount
        return self._post(
            PlannedEntry(
                id=entry_id,
                kind=LedgerEntryKind.REDEMPTION,
                status=LotStatus.ACTIVE,
                amount=-amount,
                remaining=ZERO,
                balance_before=ZERO,
                balance_after=ZERO,
                attributes=attributes,
            )
        )

    def expire(self, lot_id: UUID, attributes: dict[str, Any]) -> PlannedEntry:
        """Write off exactly what is left of a due lot, linked to it."""
        lot = next(lot for lot in self.lots if lot.id == lot_id)
        entry_id = uuid4()
        amount = self._take_lot(lot_id, entry_id, lot.remaining, emptied_status=LotStatus.EXPIRED)
        return self._post(
            PlannedEntry(
                id=entry_id,
                kind=LedgerEntryKind.EXPIRY,
                status=LotStatus.EXPIRED,
                amount=-amount,
                remaining=ZERO,
                balance_before=ZERO,
                balance_after=ZERO,
                origin_id=lot_id,
                attributes=attributes,
            )
        )

    def spendable(self, now: datetime) -> Decimal:
        """What a redemption may take now: active lots not yet past their expiry, net of debt."""
        usable = sum(
            (lot.remaining for lot in self.lots if lot.expires_at is None or lot.expires_at > now),
            ZERO,
        )
        return max(usable - sum((d.outstanding for d in self.debts), ZERO), ZERO)

    # -- internals ----------------------------------------------------------------------

    def _post(self, entry: PlannedEntry) -> PlannedEntry:
        entry.balance_before = self.balance
        self.balance += entry.amount
        self.delta += entry.amount
        entry.balance_after = self.balance
        self.entries.append(entry)
        return entry

    def _take_lot(
        self, lot_id: UUID, debit_id: UUID, amount: Decimal, emptied_status: LotStatus
    ) -> Decimal:
        lot = next((lot for lot in self.lots if lot.id == lot_id), None)
        if lot is None or amount <= 0:
            return ZERO
        taken = min(amount, lot.remaining)
        self._consume(lot, debit_id, taken, emptied_status)
        return taken

    def _take_fifo(
        self,
        debit_id: UUID,
        amount: Decimal,
        *,
        usable_at: datetime | None,
        emptied_status: LotStatus,
    ) -> Decimal:
        taken = ZERO
        for lot in sorted(self.lots, key=OpenLot.fifo_key):
            if taken >= amount:
                break
            if usable_at is not None and lot.expires_at is not None and lot.expires_at <= usable_at:
                continue
            part = min(lot.remaining, amount - taken)
            self._consume(lot, debit_id, part, emptied_status)
            taken += part
        return taken

    def _consume(
        self, lot: OpenLot, debit_id: UUID, amount: Decimal, emptied_status: LotStatus
    ) -> None:
        if amount <= 0:
            return
        lot.remaining -= amount
        self.allocations.append(Allocation(debit_id, lot.id, amount))
        entry = next((e for e in reversed(self.entries) if e.id == lot.id), None)
        if entry is not None:
            # A lot born in this book: its own entry carries the final state.
            entry.remaining = lot.remaining
            if lot.remaining == 0:
                entry.status = emptied_status
        else:
            self.consumed[lot.id] = self.consumed.get(lot.id, ZERO) + amount
            if lot.remaining == 0:
                self.emptied_status[lot.id] = emptied_status
        if lot.remaining == 0:
            self.lots.remove(lot)
