"""Online Software wire record -> canonical sale (docs/erp-wire-formats.md#sale-fields), one field
error at a time."""

from __future__ import annotations

import functools
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from recompra_pipelines.connectors.online_software.schema import (
    FISCAL_ITEM_FIELDS,
    WireItem,
    WireSale,
)
from recompra_pipelines.domain.parsing import (
    parse_br_date,
    parse_br_datetime,
    parse_decimal,
    parse_non_negative_decimal,
    quantize_money,
)
from recompra_pipelines.domain.sales import (
    WHOLE_RECORD,
    CanonicalItem,
    CanonicalSale,
    RecordRejected,
    SaleStatus,
    record_hash,
)
from recompra_pipelines.domain.storable import shown

ZERO = Decimal("0")
_UNIT_COST_PLACES = Decimal("0.0000000001")

# Canonical sale and item fields -> the wire fields they are read from (quarantine reasons
# name the ERP's field).
FIELD_NAMES = {
    "external_id": "id", "client_name": "cliente", "client_phone": "clientecelular",
    "seller_name": "vendedor", "partner_code": "parceiro", "total": "valor",
    "nature": "natureza", "model": "modelo", "series": "serie", "document": "documento",
    "movement": "movimento", "sale_type": "tipo", "situation": "situacao", "access_key": "chave",
    "items": "itens", "product_code": "codigo", "description": "descricao", "unit": "unidade",
    "group": "grupo", "product_type": "tipo", "quantity": "qtde", "unit_price": "valorunit",
    "gross": "vprod", "discount": "vdesc", "unit_cost": "vcusto", "total_cost": "vcusto",
}  # fmt: skip

# Natures that make a record a sale (docs/erp-wire-formats.md#natures-and-status-codes); any
# other nature (SN02-SN99, COND) is loaded but never counts.
SALE_NATURES = frozenset({"SN01", "NFCE"})

# Online Software is a point-of-sale ERP: every sale is an in-store sale.
CHANNEL = "Loja Física"
DELIVERY_MODE = "PRESENCIAL"


# The wire models' scalar fields, in their order: the first bad one is the one reported.
_SALE_SCALARS = tuple(name for name in WireSale.model_fields if name != "itens")
_ITEM_SCALARS = tuple(WireItem.model_fields)
_SCALAR_TYPES = (str, int, float, Decimal)
NOT_SCALAR = "expected a text or number value"


def _scalars(raw: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any] | str:
    """The wire model's scalars of `raw` (absent ones None), or the first field that is not a
    text or a number. The wire models' rules checked by hand: validating a model per record
    and per item cost ~30 % of mapping a 20,000-sale day. As the models read them, a JSON
    boolean is the integer it stands for."""
    values = {}
    for name in fields:
        value = raw.get(name)
        kind = type(value)
        if kind is str or value is None or kind is int or kind is float or kind is Decimal:
            values[name] = value
        elif kind is bool:
            values[name] = int(value)
        elif isinstance(value, _SCALAR_TYPES):
            values[name] = value
        else:
            return name
    return values


def map_sale(record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
    """Map one `resultado` entry, or raise RecordRejected naming the first bad field."""
    if not isinstance(record, dict):
        raise RecordRejected(WHOLE_RECORD, f"expected an object, got {type(record).__name__}")
    wire = _scalars(record, _SALE_SCALARS)
    if isinstance(wire, str):
        raise RecordRejected(wire, NOT_SCALAR)

    raw_id = wire["id"]
    if isinstance(raw_id, float):
        raise RecordRejected("id", f"expected a text or an integer, got the number {raw_id!r}")
    external_id = _text(raw_id)
    if not external_id:
        raise RecordRejected("id", "missing")
    business_date = _field("data", parse_br_date, _required(wire["data"], "data"))
    if business_date != day:
        raise RecordRejected(
            "data",
            f"dated {business_date.isoformat()}, outside the requested day {day.isoformat()}",
        )
    total = _field("valor", _money, _required(wire["valor"], "valor"))
    nature = _text(_required(wire["natureza"], "natureza")).upper()
    items = _map_items(record.get("itens"))

    return CanonicalSale(
        external_id=external_id,
        business_date=business_date,
        erp_time=_erp_time(wire["datahora"], business_date, timezone),
        client_name=_text(wire["cliente"]) or None,
        # The mobile first: a landline in `clientefone` cannot receive WhatsApp
        # (docs/decisions.md#d-05-the-mobile-number-before-the-landline).
        client_phone=_text(wire["clientecelular"]) or _text(wire["clientefone"]) or None,
        client_external_id=None,
        seller_name=_text(wire["vendedor"]) or None,
        partner_code=_text(wire["parceiro"]) or None,
        total=total,
        status=SaleStatus.COMPLETED if nature in SALE_NATURES else SaleStatus.NOT_A_SALE,
        nature=nature,
        model=_text(wire["modelo"]) or "N/A",
        series=_text(wire["serie"]) or "N/A",
        document=_text(wire["documento"]) or "N/A",
        movement=_text(wire["movimento"]) or "N/A",
        sale_type=_text(wire["tipo"]) or None,
        situation=_text(wire["situacao"]) or "N/A",
        access_key=_text(wire["chave"]) or None,
        channel=CHANNEL,
        delivery_mode=DELIVERY_MODE,
        items=items,
        content_hash=record_hash(record),
    )


def _map_items(raw_items: Any) -> tuple[CanonicalItem, ...]:
    if not isinstance(raw_items, list):
        raise RecordRejected("itens", "expected a list of items")
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise RecordRejected(f"itens[{index}]", f"expected an object, got {type(raw).__name__}")
    # Every item's types before any item's values: a type error anywhere in the list is
    # reported ahead of a bad value in an earlier item.
    wires = []
    for index, raw in enumerate(raw_items):
        wire = _scalars(raw, _ITEM_SCALARS)
        if isinstance(wire, str):
            raise RecordRejected(f"itens[{index}].{wire}", NOT_SCALAR)
        wires.append(wire)
    items = []
    for index, (wire, raw) in enumerate(zip(wires, raw_items, strict=True)):
        try:
            items.append(_map_item(index + 1, wire, raw))
        except _BadItemField as bad:
            raise RecordRejected(f"itens[{index}].{bad.field}", bad.reason) from None
    return tuple(items)


class _BadItemField(Exception):
    """An item field's problem; `_map_items` adds the item's position to the field name."""

    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason


def _map_item(line: int, wire: dict[str, Any], raw: dict[str, Any]) -> CanonicalItem:
    raw_code = wire["codigo"]
    if isinstance(raw_code, float):
        raise _BadItemField("codigo", f"expected a text or an integer, got the number {raw_code!r}")
    code = _text(raw_code)
    if not code:
        raise _BadItemField("codigo", "missing")
    quantity = _item_amount("qtde", wire["qtde"])
    unit_price = _item_amount("valorunit", wire["valorunit"])
    discount = _item_money("vdesc", _item_amount("vdesc", wire["vdesc"], default=ZERO))
    total_cost = _item_money("vcusto", _item_amount("vcusto", wire["vcusto"], default=ZERO))
    # The fiscal gross (vprod) is what the NF-e states; unit × quantity only when it is absent,
    # since recomputing it loses the ERP's own rounding (docs/brazilian-data.md#money).
    vprod = _item_amount("vprod", wire["vprod"], default=None)
    if vprod is None:
        gross = _item_money("valorunit", unit_price * quantity)
    else:
        gross = _item_money("vprod", vprod)
    try:
        unit_cost = (total_cost / quantity).quantize(_UNIT_COST_PLACES) if quantity else ZERO
    except ArithmeticError:
        raise _BadItemField(
            "vcusto", f"{shown(total_cost)} over {shown(quantity)} units is beyond any unit cost"
        ) from None
    return CanonicalItem(
        line=line,
        product_code=code,
        description=_text(wire["descricao"]) or code,
        unit=_text(wire["unidade"]) or None,
        group=_text(wire["grupo"]) or None,
        ncm=_text(wire["ncm"]) or None,
        product_type=_text(wire["tipo"]) or None,
        quantity=quantity,
        unit_price=unit_price,
        gross=gross,
        discount=discount,
        net=gross - discount,
        unit_cost=unit_cost,
        total_cost=total_cost,
        extra={name: raw[name] for name in FISCAL_ITEM_FIELDS if name in raw},
    )


_MISSING = object()


def _item_amount(field: str, value: Any, default: Any = _MISSING) -> Any:
    """A non-negative amount; an absent or blank one is `default`, or missing if none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is _MISSING:
            raise _BadItemField(field, "missing")
        return default
    try:
        return parse_non_negative_decimal(value)
    except ValueError as error:
        raise _BadItemField(field, str(error)) from None


def _item_money(field: str, value: Decimal) -> Decimal:
    try:
        return _cents(value)
    except ValueError as error:
        raise _BadItemField(field, str(error)) from None


# A day's ~270,000 item amounts are a few thousand distinct values. Only non-negative amounts
# come here (a cached zero is never the -0.00 another sign would round to); an amount that
# cannot be rounded raises every time (errors are not cached).
@functools.lru_cache(maxsize=1 << 16)
def _cents(amount: Decimal) -> Decimal:
    return quantize_money(amount)


def _money(value: Any) -> Decimal:
    return quantize_money(parse_decimal(value))


def _erp_time(raw: Any, business_date: date, timezone: ZoneInfo) -> datetime | None:
    """The optional `datahora`, kept only when it is well formed and on the sale's own day."""
    text = _text(raw)
    if not text:
        return None
    try:
        local = parse_br_datetime(text)
    except ValueError:
        return None
    if local.date() != business_date:
        return None
    return local.replace(tzinfo=timezone)


def _required(value: Any, field: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordRejected(field, "missing")
    return value


def _field(field: str, parse, value: Any):
    try:
        return parse(value)
    except ValueError as error:
        raise RecordRejected(field, str(error)) from None


def _text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    return str(value).strip()
