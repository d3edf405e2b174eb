"""Property test: random sequences of sales, cancellations, re-validations, syncs, re-runs,
redemptions and expiries against the real database and a tiny reference model. After every
step each balance equals the model's to the centavo and every ledger invariant holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recompra_pipelines.db import ledger
from recompra_pipelines.sync.ledger_steps import expire_day_cashback, reconcile_day_cashback
from recompra_pipelines_tests.cashback.ledger_helpers import (
    add_client,
    add_sale,
    assert_consistent,
    balance,
    cancel_sale,
    make_org,
    revalidate_sale,
)

BASE = date(2026, 3, 2)
VALIDITY = 5
CLIENTS = 2
NOW = datetime.combine(BASE, time(23, 0), tzinfo=UTC)


@dataclass
class ModelLot:
    remaining: Decimal
    expires_day: int
    order: int


@dataclass
class ModelSale:
    client: int
    value: Decimal
    day: int
    order: int
    valid: bool = True
    revision: int = 0
    cancelled: bool = False
    lot: ModelLot | None = None  # the live accrual
    lot_revision: int | None = None


@dataclass
class Model:
    """The ledger as a child would write it: one lot per live accrual, FIFO by expiry."""

    sales: list[ModelSale] = field(default_factory=list)
    balances: list[Decimal] = field(default_factory=lambda: [Decimal("0.00")] * CLIENTS)

    def lots(self, client: int) -> list[ModelLot]:
        lots = [s.lot for s in self.sales if s.client == client and s.lot and s.lot.remaining > 0]
        return sorted(lots, key=lambda lot: (lot.expires_day, lot.order))

    def sync(self, day: int) -> None:
        for sale in (s for s in self.sales if s.day == day):
            if sale.lot_revision is not None and (
                not sale.valid or sale.lot_revision != sale.revision
            ):
                self.balances[sale.client] -= sale.lot.remaining  # the used part is written off
                sale.lot.remaining = Decimal("0.00")
                sale.lot, sale.lot_revision = None, None
            if sale.valid and sale.lot_revision is None and sale.value >= 5:
                amount = (sale.value / 10).quantize(Decimal("0.01"), ROUND_HALF_UP)
                sale.lot = ModelLot(amount, sale.day + VALIDITY, sale.order)
                sale.lot_revision = sale.revision
                self.balances[sale.client] += amount

    def redeem(self, client: int, amount: Decimal) -> bool:
        if amount > sum((lot.remaining for lot in self.lots(client)), Decimal(0)):
            return False
        left = amount
        for lot in self.lots(client):
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
                    lot.remaining = Decimal("0.00")


money = st.integers(min_value=0, max_value=20000).map(lambda c: Decimal(c).scaleb(-2))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("sale"), st.integers(0, CLIENTS - 1), money, st.integers(0, 2)),
        st.tuples(st.just("cancel"), st.integers(0, 9)),
        st.tuples(st.just("revalidate"), st.integers(0, 9)),
        st.tuples(st.just("sync"), st.integers(0, 2)),
        st.tuples(st.just("rerun")),
        st.tuples(st.just("redeem"), st.integers(0, CLIENTS - 1), money),
        st.tuples(st.just("expire"), st.integers(0, 9)),
    ),
    max_size=14,
)


@settings(
    max_examples=60,
    # Same examples every run: CI stays deterministic; explore with --hypothesis-seed locally.
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations)
def test_the_ledger_matches_the_model_to_the_centavo(engine, ops):
    org = make_org(engine, minimum_sale_value="5.00", expiry_days=VALIDITY)
    clients = [add_client(engine, org) for _ in range(CLIENTS)]
    model = Model()
    sale_ids: list = []
    # Days with a cancellation the ledger has not reconciled yet: until their next sync, the
    # cancelled sale's accrual is rightly still active.
    unreconciled_days: set[int] = set()
    for step, op in enumerate(ops):
        kind = op[0]
        if kind == "sale":
            _, client, value, day = op
            order = len(model.sales)
            model.sales.append(ModelSale(client, value, day, order))
            at = (datetime.combine(BASE, time(8)) + timedelta(minutes=order)).time()
            sale_ids.append(
                add_sale(engine, org, clients[client], value, BASE + timedelta(days=day), at=at)
            )
        elif kind in ("cancel", "revalidate") and model.sales:
            index = op[1] % len(model.sales)
            sale = model.sales[index]
            if kind == "cancel" and sale.valid:
                sale.valid, sale.cancelled = False, True
                cancel_sale(engine, sale_ids[index])
                unreconciled_days.add(sale.day)
            elif kind == "revalidate" and not sale.valid:
                sale.valid, sale.cancelled, sale.revision = True, False, sale.revision + 1
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
        for index, client in enumerate(clients):
            actual = balance(engine, org, client)
            assert (actual[0] if actual else Decimal("0.00")) == model.balances[index], (op, index)
        assert_consistent(engine, org, cancellations_reconciled=not unreconciled_days)
