"""What the CRM's columns can hold, and the first thing in a mapped sale that they cannot.

PostgreSQL refuses, inside a bulk write, anything a column cannot hold: a number beyond its
NUMERIC precision, a NUL character in text or JSON, an unpaired surrogate (not valid
Unicode), NaN or Infinity in JSONB, an index key beyond a btree page's third (~2,700 bytes).
One refused value would fail the whole day's write, on every tick, until the ERP changed that
record. So every mapped sale is checked against these limits before staging, and a sale that
does not fit is quarantined alone, named by its field.

The numeric columns of db/tables are declared from the capacities defined here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from recompra_pipelines.domain.sales import WHOLE_RECORD, CanonicalSale
from recompra_pipelines.json_codec import TOO_DEEP


@dataclass(frozen=True)
class NumericColumn:
    """A NUMERIC(precision, scale) column."""

    precision: int
    scale: int

    @property
    def limit(self) -> Decimal:
        """The smallest magnitude that does not fit (after rounding to the scale)."""
        return Decimal(10) ** (self.precision - self.scale) - Decimal(5).scaleb(-self.scale - 1)

    def problem(self, value: Decimal) -> str | None:
        if not isinstance(value, Decimal):
            return f"expected a Decimal, got {type(value).__name__}"
        if not value.is_finite():
            return f"{value} is not a finite number"
        if -self.limit < value < self.limit:
            return None
        return f"{shown(value)} does not fit NUMERIC({self.precision},{self.scale})"


MONEY = NumericColumn(14, 2)
QUANTITY = NumericColumn(15, 4)
UNIT_PRICE = NumericColumn(20, 10)
# No ERP amount anywhere is this large: parsing refuses it before any arithmetic, so exact
# Decimal math on what it lets through (a price times a quantity, rounded) never overflows.
LARGEST_AMOUNT = max(Decimal(10) ** (c.precision - c.scale) for c in (MONEY, QUANTITY, UNIT_PRICE))

# Characters of a text that is (or derives) an index key: identifiers, product codes, names.
# 255 characters are at most 1,020 bytes, well inside a btree index row.
MAX_KEY_LENGTH = 255
# The deepest JSON value kept from an ERP record (item metadata, discount and payment lines).
MAX_JSON_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
_SHOWN_LENGTH = 40


def shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut to a few dozen characters (a
    message must never carry a 50 MB field, nor the control characters it holds)."""
    text = repr(value) if not isinstance(value, Decimal) else str(value)
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 1] + "…"


def text_problem(value: str, *, key: bool = False) -> str | None:
    """Why PostgreSQL text (or, with `key`, a btree index) cannot hold `value`, if it cannot."""
    if "\x00" in value:
        if TOO_DEEP in value:
            return TOO_DEEP.strip("\x00")
        return "contains a NUL character, which PostgreSQL text cannot hold"
    if not value.isascii() and _SURROGATE.search(value):
        return "contains an unpaired surrogate, which is not valid Unicode"
    if key and len(value) > MAX_KEY_LENGTH:
        return f"{len(value)} characters long; the CRM indexes at most {MAX_KEY_LENGTH}"
    return None


def json_problem(value: Any) -> tuple[tuple[Any, ...], str] | None:
    """(path, reason) of the first part of `value` that JSONB cannot hold, if any: text it
    refuses, NaN or an infinity, a value it has no type for, nesting beyond MAX_JSON_DEPTH."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        kind = type(item)
        if kind is str:
            reason = text_problem(item)
        elif item is None or kind is bool or kind is int:
            reason = None
        elif kind is float:
            reason = None if math.isfinite(item) else f"{item} is not a finite number"
        elif kind is dict or kind is list:
            if len(path) >= MAX_JSON_DEPTH:
                # Named by the entry that holds the nesting, not by a 64-step path.
                return path[:1], f"nested deeper than {MAX_JSON_DEPTH} levels"
            entries = item.items() if kind is dict else enumerate(item)
            for key, entry in entries:
                if kind is dict and (problem := text_problem(str(key))):
                    return (*path, key), f"key: {problem}"
                stack.append(((*path, key), entry))
            reason = None
        else:
            reason = f"{shown(item)} is not a JSON value"
        if reason is not None:
            return path, reason
    return None


@dataclass(frozen=True)
class Unstorable:
    """Where a mapped sale does not fit the CRM (canonical names and the item's position in the
    ERP's list, e.g. `items[2].quantity`) and why."""

    path: tuple[Any, ...]
    reason: str

    def field(self, names: Mapping[str, str] | None = None) -> str:
        """The path in the ERP's own words: `names` maps canonical names to wire names."""
        names = names or {}
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text += ("." if text else "") + names.get(part, str(part))
        return text or WHOLE_RECORD


# Texts that are index keys, or from which one is derived (a name's matching key).
_SALE_KEYS = ("external_id", "client_external_id", "client_name", "seller_name", "partner_code")
_SALE_TEXTS = (
    "client_phone", "nature", "model", "series", "document", "movement", "sale_type",
    "situation", "access_key", "channel", "delivery_mode",
)  # fmt: skip
_SALE_MONEY = ("total", "discount_total", "delivery_fee", "service_fee", "additional_fee")
_ITEM_TEXTS = ("description", "unit", "group", "ncm", "product_type")
_ITEM_NUMBERS = (
    ("quantity", QUANTITY), ("unit_price", UNIT_PRICE), ("gross", MONEY), ("discount", MONEY),
    ("net", MONEY), ("unit_cost", UNIT_PRICE), ("total_cost", MONEY),
)  # fmt: skip
_ADDRESS_TEXTS = (
    "street", "number", "complement", "neighborhood", "city", "state", "postal_code",
    "reference", "latitude", "longitude",
)  # fmt: skip


def unstorable(sale: CanonicalSale) -> Unstorable | None:
    """The first value of `sale` the CRM's columns cannot hold, or None when all fit."""
    for name in _SALE_KEYS:
        if (problem := _text_of(sale, name, key=True)) is not None:
            return Unstorable((name,), problem)
    for name in _SALE_TEXTS:
        if (problem := _text_of(sale, name)) is not None:
            return Unstorable((name,), problem)
    for name in _SALE_MONEY:
        value = getattr(sale, name)
        if value is not None and (problem := MONEY.problem(value)) is not None:
            return Unstorable((name,), problem)
    for item in sale.items:
        index = item.line - 1  # the item's position in the ERP's list
        if (problem := text_problem(item.product_code, key=True)) is not None:
            return Unstorable(("items", index, "product_code"), problem)
        for name in _ITEM_TEXTS:
            if (problem := _text_of(item, name)) is not None:
                return Unstorable(("items", index, name), problem)
        for name, column in _ITEM_NUMBERS:
            if (problem := column.problem(getattr(item, name))) is not None:
                return Unstorable(("items", index, name), problem)
        if item.extra and (found := json_problem(item.extra)) is not None:
            return Unstorable(("items", index, *found[0]), found[1])
    for what, total in (("net", sale.items_net_total), ("cost", sale.total_cost)):
        if (problem := MONEY.problem(total)) is not None:
            return Unstorable(("items",), f"the items' {what} total {problem}")
    for name in ("discounts", "payments"):
        if (found := json_problem(list(getattr(sale, name)))) is not None:
            return Unstorable((name, *found[0]), found[1])
    if sale.delivery_address is not None:
        for name in _ADDRESS_TEXTS:
            if (problem := _text_of(sale.delivery_address, name)) is not None:
                return Unstorable(("delivery_address", name), problem)
    for warning in sale.warnings:
        if (problem := text_problem(warning)) is not None:
            return Unstorable(("warnings",), problem)
    return None


def _text_of(holder: Any, name: str, *, key: bool = False) -> str | None:
    value = getattr(holder, name)
    if value is None:
        return None
    if not isinstance(value, str):
        return f"expected a text, got {type(value).__name__}"
    return text_problem(value, key=key)


def storable_text(value: str) -> str:
    """`value` with what text cannot hold escaped (NUL as \\x00, a surrogate as \\udXXX), for
    the messages and labels the CRM stores about a refused record."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", value.replace("\x00", "\\x00"))
