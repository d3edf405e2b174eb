"""What the CRM's columns can hold: the first value of a mapped sale they cannot, named."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from recompra_pipelines.domain.addresses import DeliveryAddress
from recompra_pipelines.domain.sales import CanonicalItem, CanonicalSale, SaleStatus
from recompra_pipelines.domain.storable import (
    MONEY,
    QUANTITY,
    json_problem,
    storable_text,
    unstorable,
)
from recompra_pipelines.json_codec import TOO_DEEP

ITEM = CanonicalItem(
    line=1, product_code="P1", description="Café", unit="UN", group=None, ncm=None,
    product_type=None, quantity=Decimal("2"), unit_price=Decimal("5"), gross=Decimal("10"),
    discount=Decimal("0"), net=Decimal("10"), unit_cost=Decimal("1"), total_cost=Decimal("2"),
    extra={"cfop": "5102", "vfrete": "0.00"},
)  # fmt: skip
SALE = CanonicalSale(
    external_id="1", business_date=date(2026, 11, 20), erp_time=None, client_name="JOSÉ ÁVILA",
    client_phone="(11) 98765-4321", client_external_id=None, seller_name="Carla",
    partner_code=None, total=Decimal("10.00"), status=SaleStatus.COMPLETED, nature="SN01", model="65", series="1",
    document="1", movement="RECEITAS", sale_type=None, situation="00", access_key=None,
    channel=None, delivery_mode=None, items=(ITEM, dataclasses.replace(ITEM, line=2)),
    content_hash="h",
)  # fmt: skip
NAMES = {"external_id": "id", "client_name": "cliente", "items": "itens", "quantity": "qtde"}


def with_item(**changes) -> CanonicalSale:
    return dataclasses.replace(SALE, items=(ITEM, dataclasses.replace(ITEM, line=2, **changes)))


def test_a_sale_that_fits_has_no_problem():
    assert unstorable(SALE) is None


@pytest.mark.parametrize(
    ("sale", "field", "reason"),
    [
        (
            dataclasses.replace(SALE, external_id="x" * 256),
            "id",
            "256 characters long; the CRM indexes at most 255",
        ),
        (
            dataclasses.replace(SALE, client_name="ANA\x00"),
            "cliente",
            "contains a NUL character, which PostgreSQL text cannot hold",
        ),
        (
            dataclasses.replace(SALE, document="\ud800"),
            "document",
            "contains an unpaired surrogate, which is not valid Unicode",
        ),
        (
            dataclasses.replace(SALE, client_name=TOO_DEEP),
            "cliente",
            "nested deeper than 256 levels",
        ),
        (
            dataclasses.replace(SALE, total=Decimal("1000000000000")),
            "total",
            "1000000000000 does not fit NUMERIC(14,2)",
        ),
        (
            dataclasses.replace(SALE, delivery_fee=Decimal("999999999999.995")),
            "delivery_fee",
            "999999999999.995 does not fit NUMERIC(14,2)",
        ),
        (with_item(quantity=Decimal("1E+11")), "itens[1].qtde", "1E+11 does not fit NUMERIC(15,4)"),
        (with_item(unit_cost=Decimal("NaN")), "itens[1].unit_cost", "NaN is not a finite number"),
        (with_item(product_code="7" * 300), "itens[1].product_code", "300 characters long"),
        (with_item(description="a\x00"), "itens[1].description", "contains a NUL character"),
        (with_item(extra={"cfop": "51\x0002"}), "itens[1].cfop", "contains a NUL character"),
        (with_item(extra={"cfop": float("nan")}), "itens[1].cfop", "nan is not a finite number"),
        (
            with_item(extra={"x": {"y": [Decimal("1")]}}),
            "itens[1].x.y[0]",
            "Decimal 1 is not a JSON value",
        ),
        (
            dataclasses.replace(SALE, payments=({"bandeira": "visa\x00"},)),
            "payments[0].bandeira",
            "contains a NUL character",
        ),
        (
            dataclasses.replace(SALE, delivery_address=DeliveryAddress(street="Rua\x00")),
            "delivery_address.street",
            "contains a NUL character",
        ),
    ],
)
def test_the_first_value_that_does_not_fit_is_named_in_the_erps_words(sale, field, reason):
    problem = unstorable(sale)
    assert problem is not None
    assert problem.field(NAMES) == field
    assert reason in problem.reason


def test_the_items_totals_must_fit_too():
    huge = dataclasses.replace(ITEM, net=Decimal("600000000000"))
    problem = unstorable(dataclasses.replace(SALE, items=(huge, dataclasses.replace(huge, line=2))))
    assert problem is not None and problem.field() == "items"
    assert problem.reason.startswith("the items' net total 1200000000000")


def test_json_nested_deeper_than_the_limit_is_named_by_its_entry():
    deep: object = "x"
    for _ in range(100):
        deep = [deep]
    assert json_problem({"ok": 1, "anexo": deep}) == (("anexo",), "nested deeper than 64 levels")
    assert json_problem({"a\x00": 1}) == (
        ("a\x00",),
        "key: contains a NUL character, which PostgreSQL text cannot hold",
    )
    assert json_problem([1, 2.5, None, True, "ã", {"k": []}]) is None


def test_a_column_fits_up_to_what_rounds_below_its_limit():
    assert MONEY.problem(Decimal("999999999999.994")) is None
    assert MONEY.problem(Decimal("-999999999999.99")) is None
    assert QUANTITY.problem(Decimal("99999999999.99994")) is None
    assert QUANTITY.problem(Decimal("99999999999.99995")) is not None


def test_stored_labels_escape_what_text_cannot_hold():
    assert storable_text("a\x00b\ud800c ção") == "a\\x00b\\ud800c ção"
