"""ERP wire scalars (numbers and dates as the ERPs send them) to exact Python values.

Every parser raises `ValueError` with a short human reason; the caller adds the
organization, day, record and field and quarantines the record
(docs/architecture.md#6-nothing-is-lost). Money never passes through a binary float
(docs/architecture.md#4-money-is-exact).
"""

import functools
import math
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from recompra_pipelines.domain.storable import LARGEST_AMOUNT, shown

_CENTAVOS = Decimal("0.01")

# A number is plain digits, or digits with ONE decimal separator, or thousands
# groups with one separator followed by a decimal part with the other one.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:[.,][0-9]+)?")
_GROUPED_WITH_POINT_DECIMAL = re.compile(r"-?[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+")
_GROUPED_WITH_COMMA_DECIMAL = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+")

_BR_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_BR_DATETIME = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4}) ([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?")


def parse_decimal(value: str | int | float | None) -> Decimal:
    """The exact decimal an ERP sent, as a string or a JSON number; never rounded.

    Strings may use a point or a comma as the decimal separator ("45.90", "45,90").
    When both appear, the LAST one is the decimal separator and the other must form
    proper thousands groups ("1.234,56", "1,234.56"). A lone separator is always the
    decimal one, so "1,234" is 1.234: quantities carry up to 4 decimals (NF-e qCom),
    and the Online Software sends no thousands separators. Anything else — "1.2.3",
    "1.234.567", exponents, NaN, infinities, booleans — is rejected rather than
    guessed. JSON floats go through their shortest repr ("45.9"), never through the
    binary value (45.89999…). A magnitude no CRM column holds (1e30, fifteen digits
    of reais) is rejected here, before any arithmetic on it.
    """
    if value is None:
        raise ValueError("missing value")
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        number = Decimal(repr(value))
    elif isinstance(value, Decimal) and value.is_finite():  # a JSON integer too long for int
        number = value
    elif isinstance(value, str):
        number = _parse_decimal_text(value)
    else:
        raise ValueError(f"not a number: {shown(value)}")
    if not -LARGEST_AMOUNT < number < LARGEST_AMOUNT:
        raise ValueError(f"{shown(value)} is beyond any amount the CRM can store")
    return number


# A day repeats the same prices and quantities thousands of times; Decimal is immutable and
# `typed` keeps True apart from 1.
@functools.lru_cache(maxsize=1 << 16, typed=True)
def parse_non_negative_decimal(value: str | int | float | None) -> Decimal:
    """`parse_decimal` for amounts and quantities, which a sale cannot have below zero."""
    number = parse_decimal(value)
    if number < 0:
        raise ValueError(f"must not be negative: {shown(value)}")
    # "-0" is zero; copy_abs keeps it from ever printing as "-0.00".
    return number.copy_abs()


def parse_br_date(value: str) -> date:
    """A `DD/MM/YYYY` date; single-digit day or month (`1/2/2026`) is accepted too.

    The old importer parsed `data` with a non-strict day-first parser, so an ERP
    that drops zeros worked in production; day-first is still unambiguous. ISO
    dates and impossible dates (`31/02/2026`) are rejected.
    """
    match = _BR_DATE.fullmatch(_stripped_text(value, "date"))
    if match is None:
        raise ValueError(f"not a DD/MM/YYYY date: {shown(value)}")
    day, month, year = map(int, match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"not a calendar date: {value!r}") from None


def parse_br_datetime(value: str) -> datetime:
    """A naive local `DD/MM/YYYY HH:mm:ss` or `DD/MM/YYYY HH:mm` datetime, strictly.

    Strict on purpose: `datahora` is optional (docs/erp-wire-formats.md#numbers-and-dates), so
    a malformed one is dropped and the caller falls back to the sale's `data`, instead of
    guessing a time. The result is naive wall-clock
    time in the organization's timezone; attaching the zone is the caller's job.
    """
    match = _BR_DATETIME.fullmatch(_stripped_text(value, "datetime"))
    if match is None:
        raise ValueError(f"not a DD/MM/YYYY HH:mm[:ss] datetime: {shown(value)}")
    day, month, year, hour, minute, second = (int(part or 0) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ValueError(f"not a calendar datetime: {value!r}") from None


def format_ddmmyyyy(d: date) -> str:
    """The date as the Online Software request expects it: `28112026`."""
    return f"{d.day:02d}{d.month:02d}{d.year:04d}"


def to_centavos(value: Decimal) -> int:
    """Money as integer centavos, rounded by ``quantize_money`` (exact for posted amounts)."""
    return int(quantize_money(value) * 100)


def quantize_money(value: Decimal) -> Decimal:
    """Round to centavos, half up: THE one rounding rule of the project.

    Amounts are kept exact until they are posted and rounded exactly once, here,
    so every total, cashback and balance agrees to the centavo.
    A magnitude no CRM column holds is a ValueError, not a Decimal signal.
    """
    if not -LARGEST_AMOUNT < value < LARGEST_AMOUNT:
        raise ValueError(f"{shown(value)} is beyond any amount the CRM can store")
    return value.quantize(_CENTAVOS, rounding=ROUND_HALF_UP)


def _parse_decimal_text(value: str) -> Decimal:
    text = value.strip()
    if not text:
        raise ValueError("empty value")
    if _PLAIN_NUMBER.fullmatch(text):
        return Decimal(text.replace(",", "."))
    if _GROUPED_WITH_POINT_DECIMAL.fullmatch(text):
        return Decimal(text.replace(",", ""))
    if _GROUPED_WITH_COMMA_DECIMAL.fullmatch(text):
        return Decimal(text.replace(".", "").replace(",", "."))
    raise ValueError(f"not a number: {shown(value)}")


def _stripped_text(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a {what}: {shown(value)}")
    text = value.strip()
    if not text:
        raise ValueError(f"empty {what}")
    return text
