"""Pure campaign rules: periods, frequency, caps, conversion types."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from recompra_pipelines.domain.attribution import BuyingPattern, conversion_type, deltas
from recompra_pipelines.domain.campaign_rules import (
    Campaign,
    PastInteraction,
    Period,
    Purchase,
    decide,
    eligible_for_effects,
    schedule,
)

SP = ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize(
    "start, period, expected",
    [
        (date(2026, 1, 31), Period(1, "MESES"), date(2026, 2, 28)),
        (date(2024, 2, 29), Period(1, "ANOS"), date(2025, 2, 28)),
        (date(2026, 11, 29), Period(2, "SEMANAS"), date(2026, 12, 13)),
        (date(2026, 12, 31), Period(1, "DIAS"), date(2027, 1, 1)),
    ],
)
def test_periods_use_calendar_arithmetic(start, period, expected):
    assert period.add_to(start) == expected


def test_schedule_is_organization_local_not_utc():
    campaign = Campaign(
        id=1,
        title="t",
        trigger="NOVA-COMPRA",
        segmentations=frozenset(),
        delay=Period(1, "DIAS"),
        block="12:00",
    )
    # 22:30 in São Paulo is already the next day in UTC; the old code scheduled a day late.
    late_evening = datetime(2026, 11, 28, 22, 30, tzinfo=SP)
    assert schedule(campaign, late_evening, SP) == (date(2026, 11, 29), "12:00")


def _purchase(sale: int, client: str, at: datetime) -> Purchase:
    return Purchase(sale_id=sale, sale_revision=0, client_id=client, value=Decimal("10"), time=at,
                    position=2, running_total=Decimal("20"), rfm_title=None, seller_name=None)  # fmt: skip


def test_interval_frequency_counts_the_batch_and_history():
    weekly = Campaign(
        id="c",
        title="t",
        trigger="NOVA-COMPRA",
        segmentations=frozenset(),
        min_interval=Period(7, "DIAS"),
    )
    t0 = datetime(2026, 11, 1, 10, tzinfo=SP)
    history = [PastInteraction("c", "ana", t0, t0.date())]
    candidates = [
        (weekly, _purchase(1, "ana", t0 + timedelta(days=3))),  # within a week of the past one
        (weekly, _purchase(2, "ana", t0 + timedelta(days=8))),  # a week later: allowed
        (weekly, _purchase(3, "ana", t0 + timedelta(days=9))),  # a day after the one just allowed
    ]
    assert [d.skip_reason for d in decide(candidates, history, SP, None)] == [
        "FREQUENCIA",
        None,
        "FREQUENCIA",
    ]


def test_daily_cap_is_per_client_and_local_day():
    first = Campaign(id="a", title="a", trigger="NOVA-COMPRA", segmentations=frozenset())
    second = Campaign(id="b", title="b", trigger="NOVA-COMPRA", segmentations=frozenset())
    at = datetime(2026, 11, 1, 10, tzinfo=SP)
    candidates = [
        (first, _purchase(1, "ana", at)),
        (second, _purchase(1, "ana", at)),
        (second, _purchase(2, "bia", at)),
    ]
    assert [d.skip_reason for d in decide(candidates, [], SP, 1)] == [None, "LIMITE_DIARIO", None]


def test_effects_policy():
    seen = datetime(2026, 11, 29, 10, tzinfo=SP)
    assert eligible_for_effects(date(2026, 11, 26), seen, SP, None, 3)
    assert not eligible_for_effects(date(2026, 11, 25), seen, SP, None, 3)
    assert not eligible_for_effects(date(2026, 11, 28), seen, SP, date(2026, 11, 29), 3)


@pytest.mark.parametrize(
    "previous, cycle, days, expected",
    [
        (0, None, None, "AQUISICAO"),
        (1, None, 100, "REATIVACAO"),
        (2, 30, 20, "REGULAR"),  # not a reliable cycle yet
        (3, 30, 100, "REATIVACAO"),
        (3, 30, 20, "ACELERACAO"),
        (3, 30, 40, "ATRASADA"),
        (3, 30, 30, "REGULAR"),
        (5, 40, 95, "REATIVACAO"),  # min(3 x 40, 90) = 90
    ],
)
def test_conversion_types(previous, cycle, days, expected):
    assert conversion_type(BuyingPattern(previous, Decimal("50"), cycle, days)) == expected


def test_deltas():
    result = deltas(BuyingPattern(3, Decimal("40.00"), 30, 20), Decimal("90.00"))
    assert (result.frequency, result.monetary_absolute, result.monetary_percent) == (
        10,
        Decimal("50.00"),
        Decimal("125.00"),
    )
