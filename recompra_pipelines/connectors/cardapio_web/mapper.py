"""CardápioWeb order detail -> canonical sale (docs/erp-wire-formats.md#order-detail-to-sale).

Differences from the old mapper, on purpose:
- an item's product code is its `external_code`, else its `item_id`, and the same code is used
  for the product and the line, so lines with an external code are no longer dropped;
- options are priced per unit and multiplied by the item's quantity;
- everything (items, buyer, time) is content of the sale, so later runs apply changes;
- unknown enum values load with a warning instead of failing the page;
- discounts, fees, payments and the delivery address are kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from recompra_pipelines.connectors.cardapio_web.schema import (
    DELIVERED_BY,
    DISCOUNT_CATEGORIES,
    DISCOUNT_KINDS,
    ITEM_KINDS,
    ITEM_STATUSES,
    ORDER_STATUSES,
    ORDER_TIMINGS,
    ORDER_TYPES,
    PAYMENT_METHODS,
    PAYMENT_STATUSES,
    PAYMENT_TYPES,
    SALES_CHANNELS,
    WireAddress,
    WireCustomer,
    WireItem,
    WireOption,
    WireOrder,
)
from recompra_pipelines.domain.addresses import delivery_address
from recompra_pipelines.domain.parsing import parse_non_negative_decimal, quantize_money
from recompra_pipelines.domain.sales import (
    CRM_NATURES,
    WHOLE_RECORD,
    CanonicalItem,
    CanonicalSale,
    RecordRejected,
    SaleStatus,
    record_hash,
)

MODEL = "CARDAPIO-WEB"
CLOSED, CANCELED = "closed", "canceled"
# What an order's status makes it; any other status (one CardápioWeb adds) is kept as the
# sale's nature and never counts.
SALE_STATUSES = {CLOSED: SaleStatus.COMPLETED, CANCELED: SaleStatus.CANCELLED}
CLOSED_SITUATION = "FECHADO"
DELIVERY_MODES = {
    "delivery": "ENTREGA",
    "takeout": "RETIRADA",
    "onsite": "PRESENCIAL",
    "closed_table": "COMANDA",
}
CHANNELS = {
    "portal": "Portal CardapioWeb",
    "whatsapp_extension": "WhatsApp",
    "ifood": "iFood",
    "catalog": "Catálogo CardapioWeb",
    "store_front_catalog": "Catálogo CardapioWeb",
}
ZERO = Decimal("0")
# Canonical sale and item fields -> the wire fields they are read from (quarantine reasons
# name the ERP's field).
FIELD_NAMES = {
    "external_id": "id", "client_name": "customer.name", "client_phone": "customer.phone",
    "client_external_id": "customer.id", "document": "fiscal_document", "movement": "order_type",
    "sale_type": "order_type", "channel": "sales_channel", "delivery_mode": "order_type",
    "discount_total": "discounts", "product_code": "external_code", "description": "name",
    "product_type": "kind", "net": "total_price", "opcoes": "options",
    "observacao": "observation",
}  # fmt: skip


class _Warnings(list):
    def check(self, field: str, value: Any, known: frozenset[str]) -> None:
        if value is not None and value not in known:
            self.append(f"{field}: unknown value {value!r}")


def product_code(external_code: Any, item_id: Any) -> str:
    """The product's code (products.codigo) for an order line and for a catalog item alike: the
    merchant's own code when there is one, else CardápioWeb's item id. One rule for both, so
    a product is one row whichever saw it first (the old catalog sync keyed by item id while
    orders keyed by external code, and made two)."""
    return _text(external_code) or _text(item_id)


def map_order(record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
    """Map one detail response, or raise RecordRejected naming the first bad field."""
    wire = _validated(WireOrder, record, WHOLE_RECORD)
    warnings = _Warnings()

    external_id = _text(wire.id)
    if not external_id:
        raise RecordRejected("id", "missing")
    created = _instant(wire.created_at, "created_at", timezone)
    business_date = created.date()
    if business_date != day:
        raise RecordRejected(
            "created_at",
            f"dated {business_date.isoformat()}, outside the requested day {day.isoformat()}",
        )

    status = _text(wire.status)
    if not status:
        raise RecordRejected("status", "missing")
    warnings.check("status", status, ORDER_STATUSES)
    sale_status = SALE_STATUSES.get(status, SaleStatus.NOT_A_SALE)
    nature = None if status in SALE_STATUSES else status.upper()
    order_type = _text(wire.order_type) or None
    warnings.check("order_type", order_type, ORDER_TYPES)
    channel = _text(wire.sales_channel) or None
    warnings.check("sales_channel", channel, SALES_CHANNELS)
    warnings.check("order_timing", _text(wire.order_timing) or None, ORDER_TIMINGS)
    warnings.check("delivered_by", _text(wire.delivered_by) or None, DELIVERED_BY)

    items = _items(wire.items, warnings)
    discounts = _lines("discounts", wire.discounts)
    for line in discounts:
        warnings.check("discounts.kind", line.get("kind"), DISCOUNT_KINDS)
        warnings.check("discounts.category", line.get("category"), DISCOUNT_CATEGORIES)
    payments = _lines("payments", wire.payments)
    for line in payments:
        warnings.check("payments.payment_method", line.get("payment_method"), PAYMENT_METHODS)
        warnings.check("payments.payment_type", line.get("payment_type"), PAYMENT_TYPES)
        warnings.check("payments.status", line.get("status"), PAYMENT_STATUSES)
    customer = _customer(wire.customer)

    return CanonicalSale(
        external_id=external_id,
        business_date=business_date,
        erp_time=created,
        client_name=_text(customer.name) or None if customer else None,
        client_phone=_text(customer.phone) or None if customer else None,
        client_external_id=_text(customer.id) or None if customer else None,
        seller_name=None,
        partner_code=None,
        total=_money("total", _required(wire.total, "total")),
        status=sale_status,
        nature=nature,
        model=MODEL,
        series="N/A",
        document=_text(wire.fiscal_document) or "N/A",
        movement=order_type or "N/A",
        sale_type=order_type,
        situation=CLOSED_SITUATION if status == CLOSED else nature or CRM_NATURES[sale_status],
        access_key=None,
        # An unknown channel is kept as sent: visible in the CRM, and reported as drift.
        channel=CHANNELS.get(channel, channel) if channel else "NÃO DEFINIDO",
        delivery_mode=DELIVERY_MODES.get(order_type or ""),
        items=items,
        content_hash=record_hash(record),
        discount_total=_rounded(
            "discounts",
            sum(
                (_amount(f"discounts[{i}].total", d.get("total")) for i, d in enumerate(discounts)),
                ZERO,
            ),
        ),
        delivery_fee=_money("delivery_fee", wire.delivery_fee),
        service_fee=_money("service_fee", wire.service_fee),
        additional_fee=_money("additional_fee", wire.additional_fee),
        discounts=tuple(discounts),
        payments=tuple(payments),
        delivery_address=_address(wire.delivery_address),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _items(raw: Any, warnings: _Warnings) -> tuple[CanonicalItem, ...]:
    if not isinstance(raw, list):
        raise RecordRejected("items", "expected a list of items")
    items = []
    # The line is the item's position in the ERP's list, so lines stay put when one is cancelled.
    for line, entry in enumerate(raw, start=1):
        prefix = f"items[{line - 1}]"
        wire = _validated(WireItem, entry, prefix)
        status = _text(wire.status) or None
        warnings.check("items.status", status, ITEM_STATUSES)
        if status == CANCELED:
            continue
        kind = _text(wire.kind) or None
        warnings.check("items.kind", kind, ITEM_KINDS)
        code = product_code(wire.external_code, wire.item_id)
        if not code:
            raise RecordRejected(f"{prefix}.external_code", "missing, and no item_id either")
        quantity = _amount(f"{prefix}.quantity", _required(wire.quantity, f"{prefix}.quantity"))
        unit_price = _amount(
            f"{prefix}.unit_price", _required(wire.unit_price, f"{prefix}.unit_price")
        )
        options = _options(prefix, wire.options)
        options_per_unit = sum((qty * price for qty, price, _ in options), ZERO)
        # Options are chosen per unit: two pizzas with extra cheese are two extra cheeses.
        gross_exact = (unit_price + options_per_unit) * quantity
        net = _money(f"{prefix}.total_price", _required(wire.total_price, f"{prefix}.total_price"))
        gross = max(_rounded(f"{prefix}.unit_price", gross_exact), net)
        extra: dict[str, Any] = {}
        if _text(wire.observation):
            extra["observacao"] = _text(wire.observation)
        if options:
            extra["opcoes"] = [option for _, _, option in options]
        items.append(
            CanonicalItem(
                line=line,
                product_code=code,
                description=_text(wire.name) or code,
                unit="UN",
                group="COMBOS" if kind == "combo" else "PRODUTOS",
                ncm=None,
                product_type=kind,
                quantity=quantity,
                unit_price=unit_price,
                gross=gross,
                discount=gross - net,
                net=net,
                unit_cost=ZERO,
                total_cost=ZERO,
                extra=extra,
            )
        )
    return tuple(items)


def _options(prefix: str, raw: Any) -> list[tuple[Decimal, Decimal, dict]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RecordRejected(f"{prefix}.options", "expected a list of options")
    options = []
    for index, entry in enumerate(raw):
        where = f"{prefix}.options[{index}]"
        wire = _validated(WireOption, entry, where)
        quantity = _amount(f"{where}.quantity", wire.quantity if wire.quantity is not None else 1)
        price = _amount(
            f"{where}.unit_price", wire.unit_price if wire.unit_price is not None else 0
        )
        options.append(
            (
                quantity,
                price,
                {
                    "id": wire.option_id,
                    "codigo": _text(wire.external_code) or None,
                    "nome": _text(wire.name),
                    "quantidade": str(quantity),
                    "valor_unitario": str(price),
                    "grupo_id": wire.option_group_id,
                    "grupo_nome": _text(wire.option_group_name) or None,
                },
            )
        )
    return options


def _customer(raw: Any) -> WireCustomer | None:
    if raw is None:
        return None
    return _validated(WireCustomer, raw, "customer")


def _address(raw: Any):
    if raw is None:
        return None
    wire = _validated(WireAddress, raw, "delivery_address")
    return delivery_address(
        {
            "street": wire.street,
            "number": wire.number,
            "complement": " ".join(
                _text(p)
                for p in (wire.complement, wire.address_block, wire.address_lot)
                if _text(p)
            )
            or None,
            "neighborhood": wire.neighborhood,
            "city": wire.city,
            "state": wire.state,
            "postal_code": wire.postal_code,
            "reference": wire.reference,
            "latitude": wire.latitude,
            "longitude": wire.longitude,
        }
    )


def _lines(field: str, raw: Any) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(entry, dict) for entry in raw):
        raise RecordRejected(field, "expected a list of objects")
    return raw


def _instant(raw: Any, field: str, timezone: ZoneInfo) -> datetime:
    """An ISO-8601 instant in the organization's timezone. Without an offset it is UTC, as the
    old code read it (`new Date(...)` on a UTC server)."""
    text = _text(_required(raw, field))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RecordRejected(field, f"not an ISO-8601 date-time: {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(timezone)


def _validated(model, raw: Any, where: str):
    if not isinstance(raw, dict):
        raise RecordRejected(where, f"expected an object, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        loc = error.errors()[0]["loc"]
        field = str(loc[0]) if loc else ""
        name = field if where == WHOLE_RECORD else f"{where}.{field}"
        raise RecordRejected(name, "expected a number") from None


def _amount(field: str, value: Any) -> Decimal:
    try:
        return parse_non_negative_decimal(value)
    except ValueError as error:
        raise RecordRejected(field, str(error)) from None


def _money(field: str, value: Any) -> Decimal:
    return _rounded(field, _amount(field, value if value is not None else 0))


def _rounded(field: str, exact: Decimal) -> Decimal:
    """Centavos of an exact amount; one beyond what the CRM stores rejects the record."""
    try:
        return quantize_money(exact)
    except ValueError as error:
        raise RecordRejected(field, str(error)) from None


def _required(value: Any, field: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordRejected(field, "missing")
    return value


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()
