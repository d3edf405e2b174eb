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
from dataclasses import dataclass, field, fields
from decimal import Decimal
from itertools import chain
from operator import attrgetter
from typing import Any

from recompra_pipelines.domain.sales import WHOLE_RECORD, CanonicalItem, CanonicalSale
from recompra_pipelines.json_codec import TOO_DEEP


@dataclass(frozen=True)
class NumericColumn:
    """A NUMERIC(precision, scale) column."""

    precision: int
    scale: int
    # The smallest magnitude that does not fit (it rounds up to 10^(precision - scale)).
    limit: Decimal = field(init=False)

    def __post_init__(self) -> None:
        limit = Decimal(10) ** (self.precision - self.scale) - Decimal(5).scaleb(-self.scale - 1)
        object.__setattr__(self, "limit", limit)

    def problem(self, value: Decimal) -> str | None:
        try:
            if -self.limit < value < self.limit:
                return None
        except (ArithmeticError, TypeError):  # NaN, or not a number at all
            if not isinstance(value, Decimal):
                return f"expected a Decimal, got {type(value).__name__}"
        if not value.is_finite():
            return f"{value} is not a finite number"
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


def _clean(value: str) -> bool:
    """The fast answer for the common case: text without NUL or a surrogate."""
    return "\x00" not in value and (value.isascii() or _SURROGATE.search(value) is None)


def json_problem(value: Any) -> tuple[tuple[Any, ...], str] | None:
    """(path, reason) of the first part of `value` that JSONB cannot hold, if any: text it
    refuses, NaN or an infinity, a value it has no type for, nesting beyond MAX_JSON_DEPTH."""
    if type(value) is not dict and type(value) is not list:
        reason = _scalar_problem(value)
        return None if reason is None else ((), reason)
    if type(value) is dict:
        # Item metadata is a flat object of strings: one check of all of it at C speed.
        try:
            if _clean("".join(value)) and _clean("".join(value.values())):
                return None
        except TypeError:  # a key or value that is not a string: look at each one
            pass
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, container = stack.pop()
        if len(path) >= MAX_JSON_DEPTH:
            # Named by the entry that holds the nesting, not by a 64-step path.
            return path[:1], f"nested deeper than {MAX_JSON_DEPTH} levels"
        is_dict = type(container) is dict
        for key, entry in container.items() if is_dict else enumerate(container):
            if is_dict and not (type(key) is str and _clean(key)):
                reason = text_problem(str(key))
                if reason is not None:
                    return (*path, key), f"key: {reason}"
            kind = type(entry)
            if kind is str:
                if _clean(entry):
                    continue
            elif kind is dict or kind is list:
                stack.append(((*path, key), entry))
                continue
            if (reason := _scalar_problem(entry)) is not None:
                return (*path, key), reason
    return None


def _scalar_problem(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return text_problem(value)
    if value is None or kind is bool or kind is int:
        return None
    if kind is float:
        return None if math.isfinite(value) else f"{value} is not a finite number"
    return f"{type(value).__name__} {shown(value)} is not a JSON value"


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


_SALE_KEY_VALUES = attrgetter(*_SALE_KEYS)
_SALE_TEXT_VALUES = attrgetter(*_SALE_TEXTS)
_ITEM_TEXT_VALUES = attrgetter("product_code", *_ITEM_TEXTS)
_PRODUCT_CODE = attrgetter("product_code")
_ITEM_NUMBER_VALUES = attrgetter(*(name for name, _ in _ITEM_NUMBERS))
# Below this magnitude an amount fits every numeric column.
_FITS_ANY_COLUMN = min(column.limit for column in (MONEY, QUANTITY, UNIT_PRICE))


def unstorable(sale: CanonicalSale) -> Unstorable | None:
    """The first value of `sale` the CRM's columns cannot hold, or None when all fit.

    Runs on every mapped sale of a 20,000-sale day, so the common case (ASCII text, amounts in
    range) is answered for a whole sale or item at once; only one that fails that quick test is
    looked at field by field, to name the field."""
    keys = _SALE_KEY_VALUES(sale)
    if not (_all_clean(keys, longest=MAX_KEY_LENGTH) and _all_clean(_SALE_TEXT_VALUES(sale))):
        for name in _SALE_KEYS:
            if (problem := _text_of(getattr(sale, name), key=True)) is not None:
                return Unstorable((name,), problem)
        for name in _SALE_TEXTS:
            if (problem := _text_of(getattr(sale, name))) is not None:
                return Unstorable((name,), problem)
    for name in _SALE_MONEY:
        value = getattr(sale, name)
        if value is not None and (problem := MONEY.problem(value)) is not None:
            return Unstorable((name,), problem)
    if sale.items and not _items_fit(sale.items):
        for item in sale.items:
            if (found := _unstorable_item(item)) is not None:
                return found
    for what, total in (("net", sale.items_net_total), ("cost", sale.total_cost)):
        if (problem := MONEY.problem(total)) is not None:
            return Unstorable(("items",), f"the items' {what} total {problem}")
    for name in ("discounts", "payments"):
        lines = getattr(sale, name)
        if lines and (found := json_problem(list(lines))) is not None:
            return Unstorable((name, *found[0]), found[1])
    if sale.delivery_address is not None:
        for name in _ADDRESS_TEXTS:
            if (problem := _text_of(getattr(sale.delivery_address, name))) is not None:
                return Unstorable(("delivery_address", name), problem)
    for warning in sale.warnings:
        if (problem := _text_of(warning)) is not None:
            return Unstorable(("warnings",), problem)
    return None


def _items_fit(items: tuple[CanonicalItem, ...]) -> bool:
    """Quick test of all of a sale's items at once: their texts, amounts and metadata."""
    texts = tuple(chain.from_iterable(map(_ITEM_TEXT_VALUES, items)))
    if not _all_clean(texts) or max(map(len, map(_PRODUCT_CODE, items))) > MAX_KEY_LENGTH:
        return False
    if not _all_within(
        tuple(chain.from_iterable(map(_ITEM_NUMBER_VALUES, items))), _FITS_ANY_COLUMN
    ):
        return False
    extras = [item.extra for item in items if item.extra]
    if not extras:
        return True
    try:  # item metadata is flat objects of strings: checked together at C speed
        return _clean("".join(chain.from_iterable(extras))) and _clean(
            "".join(chain.from_iterable(map(dict.values, extras)))
        )
    except TypeError:  # a key or value that is not a string: look at each one
        return all(json_problem(extra) is None for extra in extras)


def _unstorable_item(item: CanonicalItem) -> Unstorable | None:
    """The first field of an item that did not pass the quick test and does not fit."""
    index = item.line - 1  # the item's position in the ERP's list
    if (problem := _text_of(item.product_code, key=True)) is not None:
        return Unstorable(("items", index, "product_code"), problem)
    for name in _ITEM_TEXTS:
        if (problem := _text_of(getattr(item, name))) is not None:
            return Unstorable(("items", index, name), problem)
    for name, column in _ITEM_NUMBERS:
        if (problem := column.problem(getattr(item, name))) is not None:
            return Unstorable(("items", index, name), problem)
    if item.extra and (found := json_problem(item.extra)) is not None:
        return Unstorable(("items", index, *found[0]), found[1])
    return None


def _all_clean(values: tuple, *, longest: int | None = None) -> bool:
    """Quick test: every value is None or text without NUL or a surrogate (and, with
    `longest`, none is longer). False only means "look closer"."""
    try:
        present = [value for value in values if value is not None]
        joined = "".join(present)
    except TypeError:
        return False
    if longest is not None and present and max(map(len, present)) > longest:
        return False
    return _clean(joined)


def _all_within(values: tuple, limit: Decimal) -> bool:
    """Quick test: every amount is a number of magnitude below `limit`."""
    try:
        return -limit < min(values) and max(values) < limit
    except (ArithmeticError, TypeError):
        return False


def _text_of(value: Any, *, key: bool = False) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        return f"expected a text, got {type(value).__name__}"
    if _clean(value) and not (key and len(value) > MAX_KEY_LENGTH):
        return None
    return text_problem(value, key=key)


# A PostgreSQL integer column (counts and positions: an add-on's option limits, an order).
INTEGER_LIMIT = 2**31


def entry_problem(
    entry: Any, *, keys: tuple[str, ...] = (), numbers: Mapping[str, NumericColumn] | None = None
) -> tuple[str, str] | None:
    """(field, reason) of the first field of dataclass `entry` the CRM cannot store, if any:
    text as `text_problem` sees it (index keys: the fields in `keys`), an int beyond a
    PostgreSQL integer, a Decimal beyond its column in `numbers`. For small records read one
    at a time (a catalog's products and options); sales have their own quick path."""
    for entry_field in fields(entry):
        value = getattr(entry, entry_field.name)
        problem = None
        if isinstance(value, str):
            problem = text_problem(value, key=entry_field.name in keys)
        elif isinstance(value, int) and not isinstance(value, bool):
            if not -INTEGER_LIMIT <= value < INTEGER_LIMIT:
                problem = f"{shown(value)} does not fit a PostgreSQL integer"
        elif isinstance(value, Decimal):
            problem = (numbers or {}).get(entry_field.name, MONEY).problem(value)
        if problem is not None:
            return entry_field.name, problem
    return None


def storable_text(value: str) -> str:
    """`value` with what text cannot hold escaped (NUL as \\x00, a surrogate as \\udXXX), for
    the messages and labels the CRM stores about a refused record."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", value.replace("\x00", "\\x00"))
