"""Pure cashback rules: amounts, rounding, expiry dates, redemption caps, FIFO."""

from datetime import date, datetime
from decimal import Decimal as D
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from recompra_pipelines.domain.cashback import (
    Book,
    CashbackError,
    InsufficientBalance,
    OpenLot,
    RedemptionRejected,
    accrual_amount,
    lot_expiry,
    redemption_cap,
)
from recompra_pipelines.domain.sync_plan import latest_day_past_hour

SP = ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize(
    ("sale", "rate", "expected"),
    [
        ("123.45", "10", "12.35"),  # 12.345 -> half up
        ("10.10", "2.5", "0.25"),  # 0.2525
        ("0.05", "10", "0.01"),  # 0.005 -> half up, not banker's
        ("0.04", "10", "0.00"),
        ("99.99", "100", "99.99"),
    ],
)
def test_percent_is_rounded_once_half_up(sale, rate, expected):
    assert accrual_amount("PERCENTUAL", D(rate), D(sale), D("0")) == D(expected)


def test_minimum_sale_value_and_fixed_amounts():
    assert accrual_amount("FIXO", D("5"), D("19.99"), D("20.00")) == D("0.00")
    assert accrual_amount("FIXO", D("5"), D("20.00"), D("20.00")) == D("5.00")
    assert accrual_amount("PERCENTUAL", D("5"), D("0"), D("0")) == D("0.00")
    with pytest.raises(CashbackError):
        accrual_amount("PONTOS", D("5"), D("10"), D("0"))


def test_expiry_counts_from_the_sale_day_in_the_org_timezone():
    assert lot_expiry(date(2026, 3, 1), 30, SP) == datetime(2026, 3, 31, tzinfo=SP)
    assert lot_expiry(date(2026, 3, 1), None, SP) is None
    # Across the (former) DST change the expiry is still local midnight.
    assert lot_expiry(date(2026, 10, 1), 31, SP).hour == 0


def test_latest_day_past_hour():
    assert latest_day_past_hour(datetime(2026, 3, 5, 0, 5, tzinfo=SP), 0) == date(2026, 3, 5)
    assert latest_day_past_hour(datetime(2026, 3, 5, 1, 5, tzinfo=SP), 2) == date(2026, 3, 4)
    with pytest.raises(ValueError, match="between 0 and 23"):
        latest_day_past_hour(datetime(2026, 3, 5, tzinfo=SP), 24)


def test_redemption_caps():
    assert redemption_cap(None, None, None) is None
    assert redemption_cap("FIXO", D("10"), None) == D("10.00")
    assert redemption_cap("PERCENTUAL", D("50"), D("33.33")) == D("16.67")
    with pytest.raises(RedemptionRejected):
        redemption_cap("PERCENTUAL", D("50"), None)


def test_redemption_takes_the_soonest_expiring_lot_first_and_skips_dead_lots():
    now = datetime(2026, 3, 10, tzinfo=SP)
    late, soon, never, dead = (uuid4() for _ in range(4))
    book = Book(
        balance=D("40"),
        lots=[
            OpenLot(late, D("10"), datetime(2026, 5, 1, tzinfo=SP), now),
            OpenLot(never, D("10"), None, now),
            OpenLot(soon, D("10"), datetime(2026, 4, 1, tzinfo=SP), now),
            OpenLot(dead, D("10"), datetime(2026, 3, 10, tzinfo=SP), now),
        ],
    )
    entry = book.redeem(D("15"), now=now, attributes={})
    assert [(a.lot_id, a.amount) for a in book.allocations] == [(soon, D("10")), (late, D("5"))]
    assert (entry.balance_before, entry.balance_after) == (D("40"), D("25"))
    with pytest.raises(InsufficientBalance):
        book.redeem(D("15.01"), now=now, attributes={})
    with pytest.raises(RedemptionRejected):
        book.redeem(D("0"), now=now, attributes={})
