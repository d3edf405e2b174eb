"""Property test: random sequences of sales, ERP edits (value up and down, another buyer),
cancellations, removals, re-validations and reappearances, syncs, re-runs, redemptions and
expiries, under both policies for redeemed cashback, against the real database and a tiny
reference model. After every step each balance equals the model's to the centavo and every
ledger invariant holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recompra_pipelines.db import ledger
from recompra_pipelines.sync.ledger_steps import expire_day_cashback, reconcile_day_cashback
from recompra_pipelines_tests.cashback.ledger_helpers import (
    add_client,
    add_sale,
    assert_consistent,
    balance,
    cancel_sale,
    edit_sale,
    make_org,
    reassign_sale,
    remove_sale,
    revalidate_sale,
)

BASE = date(2026, 3, 2)
VALIDITY = 5
CLIENTS = 2
NOW = datetime.combine(BASE, time(23, 0), tzinfo=UTC)
ZERO = Decimal("0.00")


@dataclass
class ModelLot:
    value: Decimal
    remaining: Decimal
    expires_day: int
    order: int
    expired: Decimal = ZERO

    @property
    def used(self) -> Decimal:
        return self.value - self.remaining - self.expired


@dataclass
class ModelSale:
    client: int
    value: Decimal
    day: int
    order: int
    valid: bool = True
    revision: int = 0
    content_revision: int = 0
    lot: ModelLot | None = None  # the live accrual …
    decided_on: tuple[int, int, int] | None = None  # … and its (revision, content, client)


@dataclass
class Model:
    """The ledger as a child would write it: one lot per live accrual, spent earliest expiry
    first; a reversal takes back what is left and writes off (or claws back) what was spent;
    an edit carries what was spent onto the sale's new lot first."""

    claw_back: bool
    sales: list[ModelSale] = field(default_factory=list)
    balances: list[Decimal] = field(default_factory=lambda: [ZERO] * CLIENTS)
    debts: list[list[Decimal]] = field(default_factory=lambda: [[] for _ in range(CLIENTS)])

    def lots(self, client: int) -> list[ModelLot]:
        lots = [
            s.lot for s in self.sales if s.lot and s.lot.remaining > 0 and s.decided_on[2] == client
        ]
        return sorted(lots, key=lambda lot: (lot.expires_day, lot.order))

    @staticmethod
    def amount(value: Decimal) -> Decimal:
        return (value / 10).quantize(Decimal("0.01"), ROUND_HALF_UP) if value >= 5 else ZERO

    def sync(self, day: int) -> None:
        today = [s for s in self.sales if s.day == day]
        plain, revised = [], []
        for sale in today:
            if sale.lot is None:
                continue
            revision, content, client = sale.decided_on
            if not sale.valid or revision != sale.revision or client != sale.client:
                plain.append(sale)
            elif content != sale.content_revision:
                (revised if self.amount(sale.value) > 0 else plain).append(sale)
        for sale in plain:
            self._reverse(sale)
        for sale in revised:
            self._revise(sale)
        for sale in today:
            if sale.valid and sale.lot is None and self.amount(sale.value) > 0:
                self._accrue(sale, self.amount(sale.value), spent=ZERO)

    def _take_back(self, sale: ModelSale) -> tuple[int, Decimal]:
        """What is left of the sale's lot leaves the balance; returns (client, used part)."""
        lot, client = sale.lot, sale.decided_on[2]
        used = lot.used
        self.balances[client] -= lot.remaining
        lot.remaining = ZERO
        sale.lot, sale.decided_on = None, None
        return client, used

    def _settle(self, client: int, spent: Decimal) -> None:
        """Spent cashback the sale no longer pays for: written off, or clawed back from the
        client's other lots and, beyond them, owed."""
        if not self.claw_back or spent <= 0:
            return
        self.balances[client] -= spent
        for lot in self.lots(client):
            taken = min(lot.remaining, spent)
            lot.remaining -= taken
            spent -= taken
        if spent > 0:
            self.debts[client].append(spent)

    def _reverse(self, sale: ModelSale) -> None:
        client, used = self._take_back(sale)
        self._settle(client, used)

    def _revise(self, sale: ModelSale) -> None:
        client, used = self._take_back(sale)
        new = self.amount(sale.value)
        carried = min(used, new)
        self.balances[client] -= carried
        self._settle(client, used - carried)
        self._accrue(sale, new, spent=carried)

    def _accrue(self, sale: ModelSale, amount: Decimal, spent: Decimal) -> None:
        client = sale.client
        remaining = amount - spent
        debts = self.debts[client]
        while debts and remaining > 0:
            repaid = min(debts[0], remaining)
            debts[0] -= repaid
            remaining -= repaid
            if debts[0] == 0:
                debts.pop(0)
        sale.lot = ModelLot(amount, remaining, sale.day + VALIDITY, sale.order)
        sale.decided_on = (sale.revision, sale.content_revision, client)
        self.balances[client] += amount

    def redeem(self, client: int, amount: Decimal) -> bool:
        lots = self.lots(client)
        available = sum((lot.remaining for lot in lots), ZERO) - sum(self.debts[client], ZERO)
        if amount > available:
            return False
        left = amount
        for lot in lots:
            taken = min(lot.remaining, left)
            lot.remaining -= taken
            left -= taken
        self.balances[client] -= amount
        return True

    def expire(self, day: int) -> None:
        for client in range(CLIENTS):
            for lot in self.lots(client):
                if lot.expires_day <= day:
                    self.balances[client] -= lot.remaining
                    lot.expired += lot.remaining
                    lot.remaining = ZERO


# Operations on a sale already made (its index, modulo the sales so far).
SALE_CHANGES = ("edit", "reassign", "cancel", "remove", "revalidate")
# Sale values: around the R$ 5,00 minimum, or a typical sale (hypothesis favours small
# integers, which would make most sales earn nothing).
money = st.one_of(
    st.sampled_from([0, 499, 500, 501]), st.integers(min_value=500, max_value=20000)
).map(lambda c: Decimal(c).scaleb(-2))
# Redemptions of the size of a lot (10 % of a sale), so partial spending is common.
small_money = st.integers(min_value=1, max_value=1500).map(lambda c: Decimal(c).scaleb(-2))
a_sale = st.tuples(st.just("sale"), st.integers(0, CLIENTS - 1), money, st.integers(0, 2))
an_edit = st.tuples(st.just("edit"), st.integers(0, 9), money)
a_redemption = st.tuples(st.just("redeem"), st.integers(0, CLIENTS - 1), small_money)
# Edits and redemptions weigh double: an edit of a partly spent lot is the case to hit.
a_change = st.one_of(
    a_sale,
    an_edit,
    an_edit,
    a_redemption,
    a_redemption,
    st.tuples(st.just("reassign"), st.integers(0, 9), st.integers(0, CLIENTS - 1)),
    st.tuples(st.just("cancel"), st.integers(0, 9)),
    st.tuples(st.just("remove"), st.integers(0, 9)),
    st.tuples(st.just("revalidate"), st.integers(0, 9)),
    st.tuples(st.just("expire"), st.integers(0, 9)),
)
a_sync = st.one_of(st.tuples(st.just("sync"), st.integers(0, 2)), st.tuples(st.just("rerun")))
# A few sales, synced; then rounds of a few changes and a sync (of one day, or of all),
# so that most changes meet the ledger and edits land on partly spent lots.
operations = st.tuples(
    st.lists(a_sale, min_size=1, max_size=4),
    st.lists(st.tuples(st.lists(a_change, min_size=1, max_size=3), a_sync), min_size=2, max_size=5),
).map(
    lambda parts: [
        *parts[0],
        ("rerun",),
        *(op for changes, sync in parts[1] for op in (*changes, sync)),
    ]
)


def _d(text: str) -> Decimal:
    return Decimal(text)


# The cases random generation rarely lines up (a lot partly spent, then its sale changes),
# always run, under both policies.
SPENT_THEN_CHANGED = [
    # Edit down, then a later sale repays a claw-back debt.
    [("sale", 0, _d("100.00"), 0), ("rerun",), ("redeem", 0, _d("6.00")), ("edit", 0, _d("40.00")),
     ("rerun",), ("sale", 0, _d("50.00"), 1), ("sync", 1), ("expire", 9)],
    # Edit up; edit while cancelled, then valid again.
    [("sale", 0, _d("100.00"), 0), ("sale", 0, _d("80.00"), 1), ("rerun",),
     ("redeem", 0, _d("12.00")), ("edit", 0, _d("150.00")), ("sync", 0), ("cancel", 1),
     ("edit", 1, _d("20.00")), ("rerun",), ("revalidate", 1), ("rerun",), ("expire", 6)],
    # Another buyer, and a removal then reappearance, of partly spent lots.
    [("sale", 0, _d("100.00"), 0), ("sale", 1, _d("60.00"), 0), ("rerun",),
     ("redeem", 0, _d("7.00")), ("redeem", 1, _d("1.00")), ("reassign", 0, 1),
     ("remove", 1), ("sync", 0), ("revalidate", 1), ("edit", 1, _d("30.00")), ("rerun",)],
]  # fmt: skip


@example(claw_back=False, ops=SPENT_THEN_CHANGED[0])
@example(claw_back=True, ops=SPENT_THEN_CHANGED[0])
@example(claw_back=False, ops=SPENT_THEN_CHANGED[1])
@example(claw_back=True, ops=SPENT_THEN_CHANGED[1])
@example(claw_back=False, ops=SPENT_THEN_CHANGED[2])
@example(claw_back=True, ops=SPENT_THEN_CHANGED[2])
@settings(
    max_examples=50,
    # Same examples every run: CI stays deterministic; explore with --hypothesis-seed locally.
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.booleans(), operations)
def test_the_ledger_matches_the_model_to_the_centavo(engine, claw_back, ops):
    org = make_org(
        engine,
        minimum_sale_value="5.00",
        expiry_days=VALIDITY,
        reversal_of_redeemed="claw_back" if claw_back else "write_off",
    )
    clients = [add_client(engine, org) for _ in range(CLIENTS)]
    model = Model(claw_back=claw_back)
    sale_ids: list = []
    # Days with a cancellation, removal or edit the ledger has not reconciled yet: until their
    # next sync, the sale's accrual is rightly still active.
    unreconciled_days: set[int] = set()
    for step, op in enumerate(ops):
        kind = op[0]
        index = op[1] % len(model.sales) if kind in SALE_CHANGES and model.sales else None
        sale = model.sales[index] if index is not None else None
        if kind == "sale":
            _, client, value, day = op
            order = len(model.sales)
            model.sales.append(ModelSale(client, value, day, order))
            at = (datetime.combine(BASE, time(8)) + timedelta(minutes=order)).time()
            sale_ids.append(
                add_sale(engine, org, clients[client], value, BASE + timedelta(days=day), at=at)
            )
        elif kind == "edit" and sale is not None:
            if sale.valid and sale.value != op[2]:
                sale.content_revision += 1
                unreconciled_days.add(sale.day)
            sale.value = op[2]
            edit_sale(engine, sale_ids[index], op[2])
        elif kind == "reassign" and sale is not None:
            sale.client = op[2]
            reassign_sale(engine, sale_ids[index], clients[op[2]])
        elif kind in ("cancel", "remove") and sale is not None:
            (cancel_sale if kind == "cancel" else remove_sale)(engine, sale_ids[index])
            if sale.valid:
                sale.valid = False
                unreconciled_days.add(sale.day)
        elif kind == "revalidate" and sale is not None and not sale.valid:
            sale.valid, sale.revision = True, sale.revision + 1
            revalidate_sale(engine, sale_ids[index])
        elif kind == "sync":
            model.sync(op[1])
            reconcile_day_cashback(engine, org, BASE + timedelta(days=op[1]))
            unreconciled_days.discard(op[1])
        elif kind == "rerun":
            for day in range(3):
                model.sync(day)
                reconcile_day_cashback(engine, org, BASE + timedelta(days=day))
            unreconciled_days.clear()
        elif kind == "redeem":
            _, client, amount = op
            if amount <= 0:
                continue
            expected = model.redeem(client, amount)
            try:
                with engine.begin() as conn:
                    ledger.redeem(
                        conn,
                        org_id=org,
                        client_id=clients[client],
                        amount=amount,
                        reference=f"{org}:{step}",
                        now=NOW,
                    )
                redeemed = True
            except ledger.InsufficientBalance:
                redeemed = False
            assert redeemed == expected
        elif kind == "expire":
            model.expire(op[1])
            expire_day_cashback(engine, org, BASE + timedelta(days=op[1]))
        for position, client in enumerate(clients):
            actual = balance(engine, org, client)
            assert (actual[0] if actual else ZERO) == model.balances[position], (op, position)
        assert_consistent(engine, org, changes_reconciled=not unreconciled_days)
