"""CardápioWeb wire contract (docs/erp-wire-formats.md#cardápioweb): endpoints, limits, enums and
the order shapes.

Enumerations are listed to recognise values, never to reject them: the old zod enums failed a
whole page on one new value. The models keep values as sent (unknown keys included) and the
mapper parses them, so a bad value is reported with its field name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_BASE_URL = "https://integracao.cardapioweb.com"
HISTORY_PATH = "/api/partner/v1/orders/history"
DETAIL_PATH = "/api/partner/v1/orders/{order_id}"
CATALOG_PATH = "/api/partner/v1/catalog"
PER_PAGE = 100
HISTORY_STATUSES = ("closed", "canceled")

# Documented limits: history (and catalog) 5/min; details 400/min, of which the old client
# used 70 %.
HISTORY_PER_MINUTE = 5
DETAILS_PER_MINUTE = 280

ORDER_STATUSES = frozenset({
    "waiting_confirmation", "pending_payment", "pending_online_payment", "scheduled_confirmed",
    "confirmed", "ready", "released", "waiting_to_catch", "delivered", "canceling", "canceled",
    "closed",
})  # fmt: skip
ORDER_TYPES = frozenset({"delivery", "takeout", "onsite", "closed_table"})
ORDER_TIMINGS = frozenset({"immediate", "scheduled"})
SALES_CHANNELS = frozenset(
    {"catalog", "store_front_catalog", "portal", "whatsapp_extension", "ifood"}
)
DELIVERED_BY = frozenset({"merchant", "ifood", "ifood_shipping", "foody_delivery"})
ITEM_KINDS = frozenset({"regular_item", "combo"})
ITEM_STATUSES = frozenset({"pending", "waiting", "production", "ready", "ok", "canceled"})
DISCOUNT_KINDS = frozenset({"discount", "free_delivery", "item"})
DISCOUNT_CATEGORIES = frozenset({"coupon", "loyalty", "other"})
PAYMENT_METHODS = frozenset({
    "money", "credit_card", "debit_card", "pix", "pix_auto", "meal_voucher", "food_voucher",
    "bank_transfer", "bank_slip", "picpay", "debt_book", "online_credit_card", "ifood",
    "ifood_voucher", "food99", "food99_voucher",
})  # fmt: skip
PAYMENT_TYPES = frozenset({"online", "offline"})
PAYMENT_STATUSES = frozenset(
    {"pending", "paid", "authorized", "refunded", "cancelled", "abandoned"}
)

# Decimal: a JSON integer too long for int (json_codec), kept exact to be reported as such.
Number = int | float | str | Decimal | None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class WireOption(_Wire):
    option_id: Any = None
    external_code: Any = None
    name: Any = None
    quantity: Number = None
    unit_price: Number = None
    option_group_id: Any = None
    option_group_name: Any = None
    option_group_total_selected_options: Any = None


class WireItem(_Wire):
    item_id: Any = None
    order_item_id: Any = None
    external_code: Any = None
    name: Any = None
    quantity: Number = None
    unit_price: Number = None
    total_price: Number = None
    kind: Any = None
    status: Any = None
    observation: Any = None
    options: Any = Field(default_factory=list)


class WireCustomer(_Wire):
    id: Any = None
    name: Any = None
    phone: Any = None


class WireAddress(_Wire):
    street: Any = None
    number: Any = None
    address_block: Any = None
    address_lot: Any = None
    neighborhood: Any = None
    complement: Any = None
    reference: Any = None
    postal_code: Any = None
    city: Any = None
    state: Any = None
    latitude: Any = None
    longitude: Any = None


class WireOrder(_Wire):
    id: Any = None
    display_id: Any = None
    status: Any = None
    order_type: Any = None
    order_timing: Any = None
    sales_channel: Any = None
    delivered_by: Any = None
    fiscal_document: Any = None
    cancellation_reason: Any = None
    delivery_fee: Number = 0
    service_fee: Number = 0
    additional_fee: Number = 0
    total: Number = None
    created_at: Any = None
    updated_at: Any = None
    customer: Any = None
    delivery_address: Any = None
    items: Any = Field(default_factory=list)
    discounts: Any = Field(default_factory=list)
    payments: Any = Field(default_factory=list)
