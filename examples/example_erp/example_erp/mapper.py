"""One Example ERP sale record -> a canonical sale (RecordRejected naming the bad field)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from recompra_pipelines.domain.parsing import parse_non_negative_decimal, quantize_money
from recompra_pipelines.domain.sales import (
    WHOLE_RECORD,
    CanonicalItem,
    CanonicalSale,
    RecordRejected,
    SaleStatus,
    record_hash,
)

# The ERP's status -> what the record is. Anything else loads as not a sale, with a warning.
STATUSES = {
    "pago": SaleStatus.COMPLETED,
    "cancelado": SaleStatus.CANCELLED,
    "orcamento": SaleStatus.NOT_A_SALE,
}
# Canonical field -> wire field, so quarantine reasons use the ERP's names.
FIELD_NAMES = {
    "external_id": "id", "total": "total", "client_name": "cliente", "client_phone": "fone",
    "items": "itens", "product_code": "sku", "description": "nome", "quantity": "qtd",
    "unit_price": "valor", "gross": "valor", "net": "valor",
}  # fmt: skip


def map_sale(record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
    if not isinstance(record, dict):
        raise RecordRejected(WHOLE_RECORD, f"expected an object, got {type(record).__name__}")
    external_id = _text(record.get("id"))
    if not external_id:
        raise RecordRejected("id", "missing")
    status_code = _text(record.get("status"))
    status = STATUSES.get(status_code, SaleStatus.NOT_A_SALE)
    warnings = () if status_code in STATUSES else (f"status: unknown value {status_code!r}",)
    return CanonicalSale(
        external_id=external_id,
        business_date=day,
        erp_time=_time(record.get("hora"), day, timezone),
        client_name=_text(record.get("cliente")) or None,
        client_phone=_text(record.get("fone")) or None,
        client_external_id=None,
        seller_name=None,
        partner_code=None,
        total=_money("total", record.get("total")),
        status=status,
        model="EXAMPLE-ERP",
        series="N/A",
        document="N/A",
        movement="N/A",
        sale_type=None,
        situation=status_code.upper() or "N/A",
        access_key=None,
        channel="Loja Física",
        delivery_mode="PRESENCIAL",
        items=_items(record.get("itens")),
        content_hash=record_hash(record),
        warnings=warnings,
    )


def _items(raw: Any) -> tuple[CanonicalItem, ...]:
    if not isinstance(raw, list):
        raise RecordRejected("itens", "expected a list of items")
    items = []
    for line, item in enumerate(raw, start=1):
        where = f"itens[{line - 1}]"
        if not isinstance(item, dict) or not _text(item.get("sku")):
            raise RecordRejected(f"{where}.sku", "missing")
        quantity = _amount(f"{where}.qtd", item.get("qtd"))
        value = _money(f"{where}.valor", item.get("valor"))
        items.append(
            CanonicalItem(
                line=line, product_code=_text(item["sku"]),
                description=_text(item.get("nome")) or _text(item["sku"]), unit="UN",
                group=None, ncm=None, product_type=None, quantity=quantity,
                unit_price=quantize_money(value / quantity) if quantity else value,
                gross=value, discount=Decimal("0.00"), net=value,
                unit_cost=Decimal("0"), total_cost=Decimal("0.00"),
            )
        )  # fmt: skip
    return tuple(items)


def _amount(field: str, value: Any) -> Decimal:
    try:
        return parse_non_negative_decimal(value)
    except ValueError as error:
        raise RecordRejected(field, str(error)) from error


def _money(field: str, value: Any) -> Decimal:
    try:
        return quantize_money(parse_non_negative_decimal(value))
    except ValueError as error:
        raise RecordRejected(field, str(error)) from error


def _time(value: Any, day: date, timezone: ZoneInfo) -> datetime | None:
    """`hora` (HH:MM) on the sale's day; a malformed one is simply not known."""
    try:
        return datetime.combine(day, time.fromisoformat(_text(value)), tzinfo=timezone)
    except ValueError:
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
