"""The repeated-id rule of Online Software payloads
(docs/erp-wire-formats.md#repeated-ids-troco-lines), and the neutral default every other
connector gets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from recompra_pipelines.connectors.online_software.mapper import map_sale
from recompra_pipelines.connectors.online_software.repeated_ids import (
    resolve_cash_repeats as resolve_repeated_ids,
)
from recompra_pipelines.connectors.registry import CONNECTORS
from recompra_pipelines.domain.sales import (
    CanonicalItem,
    CanonicalSale,
    Occurrence,
    SaleStatus,
    keep_identical_repeats,
)
from recompra_pipelines_tests.connectors.test_online_software import DAY, RECORD, SP


def sale(
    external_id: str, total: str, items_net: str = "24.25", situation: str = "00", tag: str = ""
) -> Occurrence[str]:
    item = CanonicalItem(
        line=1, product_code="P1", description="Produto", unit="UN", group=None, ncm=None, product_type=None,
        quantity=Decimal("1"), unit_price=Decimal(items_net), gross=Decimal(items_net), discount=Decimal("0"),
        net=Decimal(items_net), unit_cost=Decimal("0"), total_cost=Decimal("0"),
    )  # fmt: skip
    canonical = CanonicalSale(
        external_id=external_id, business_date=date(2026, 11, 20), erp_time=None, client_name="Ana",
        client_phone=None, client_external_id=None, seller_name=None, partner_code=None,
        total=Decimal(total), status=SaleStatus.COMPLETED, nature="SN01", model="65", series="1", document="1", movement="RECEITAS",
        sale_type=None, situation=situation, access_key=None, channel=None, delivery_mode=None,
        items=(item,), content_hash=f"{external_id}:{total}:{situation}:{tag}",
    )  # fmt: skip
    return Occurrence(sale=canonical, payload=f"{external_id}/{total}/{situation}")


def kept(resolution) -> list[str]:
    return sorted(o.payload for o in resolution.kept)


def test_unique_ids_are_all_kept():
    resolution = resolve_repeated_ids([sale("1", "24.25"), sale("2", "24.25")])
    assert kept(resolution) == ["1/24.25/00", "2/24.25/00"] and not resolution.dropped


def test_identical_repeats_collapse():
    resolution = resolve_repeated_ids([sale("1", "24.25"), sale("1", "24.25")])
    assert kept(resolution) == ["1/24.25/00"] and len(resolution.dropped) == 1


def test_the_occurrence_matching_its_items_is_the_real_sale():
    resolution = resolve_repeated_ids([sale("1", "75.75"), sale("1", "24.25")])
    assert kept(resolution) == ["1/24.25/00"]
    assert [o.payload for o in resolution.dropped] == ["1/75.75/00"]


def test_within_a_centavo_still_matches():
    resolution = resolve_repeated_ids([sale("1", "24.26"), sale("1", "80.00")])
    assert kept(resolution) == ["1/24.26/00"]


def test_when_none_matches_a_single_cancelled_looking_one_wins():
    resolution = resolve_repeated_ids([sale("1", "0.00", situation="02"), sale("1", "75.75")])
    assert kept(resolution) == ["1/0.00/02"]


def test_when_several_match_a_single_cancelled_looking_one_wins():
    resolution = resolve_repeated_ids(
        [sale("1", "24.25", situation="02"), sale("1", "24.25", tag="x")]
    )
    assert kept(resolution) == ["1/24.25/02"]


def test_undecidable_repeats_are_ambiguous():
    resolution = resolve_repeated_ids([sale("1", "10.00"), sale("1", "11.00"), sale("2", "24.25")])
    assert kept(resolution) == ["2/24.25/00"]
    assert list(resolution.ambiguous) == ["1"] and len(resolution.ambiguous["1"]) == 2


@pytest.mark.parametrize(
    "nature, total, valid",
    [
        ("SN01", "0.01", True), (" sn01 ", "10", True), ("NFCE", "10", True),
        ("SN01", "0", False), ("SN02", "10", False), ("COND", "10", False),
    ],
)  # fmt: skip
def test_validity_needs_a_sale_nature_and_a_value(nature, total, valid):
    record = {**RECORD, "natureza": nature, "valor": total}
    sale = map_sale(record, day=DAY, timezone=SP)
    assert sale.valid is valid
    assert sale.stored_nature == nature.strip().upper()


def test_other_connectors_collapse_identical_repeats_and_never_guess():
    """Without the cash-movement rule, an id listed with two contents is ambiguous even when
    one occurrence matches its items (the rule is Online Software's alone)."""
    assert CONNECTORS["CARDAPIO-WEB"].resolve_repeated_ids.__func__ is not (
        CONNECTORS["ONLINE-SOFTWARE"].resolve_repeated_ids.__func__
    )
    resolution = CONNECTORS["CARDAPIO-WEB"].resolve_repeated_ids(
        [sale("1", "75.75"), sale("1", "24.25"), sale("2", "24.25"), sale("2", "24.25")]
    )
    assert kept(resolution) == ["2/24.25/00"] and len(resolution.dropped) == 1
    assert list(resolution.ambiguous) == ["1"]
    assert kept(keep_identical_repeats([sale("3", "1.00"), sale("3", "1.00")])) == ["3/1.00/00"]
