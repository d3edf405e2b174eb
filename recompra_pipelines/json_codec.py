"""JSON in and out at the speed a 20,000-sale day needs (orjson), with the standard library's
exact behaviour wherever orjson would differ, and without ever failing on what a hostile ERP
can send.

orjson parses and serializes about ten times faster than `json`, which matters when a day's
extract is 45 MB and every record is hashed. It is stricter in places, and there the standard
library decides, so nothing about what loads or what a hash is changes:
- it rejects `NaN`/`Infinity` literals, which `json` reads (the record is then quarantined by
  its field instead of the whole day failing), lone surrogates in strings and numbers beyond a
  double;
- it reads at most 1,024 levels of nesting and writes at most 254.

The standard library has limits of its own that an ERP response must not turn into a crash:
it recurses once per nesting level (a `RecursionError` near 1,000 levels) and refuses integers
of more than 4,300 digits with a bare `ValueError`. So reading falls back further: an integer
that long is kept as a `Decimal` (no column can hold it: the record is quarantined by its
field), and a value nested deeper than `MAX_READ_DEPTH` is replaced by the text `TOO_DEEP`
(a record carrying it where the CRM reads is quarantined, named by that field). `loads` raises
nothing but `JSONDecodeError`, and `canonical_bytes` serializes any depth.

And one place where orjson is looser: an integer beyond 64 bits becomes a float (digits lost).
No ERP amount comes near that, and identifiers must not be floats: the connectors reject a
record whose id or product code arrives as one (quarantined, named by field).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

import orjson

JSONDecodeError = json.JSONDecodeError

# Values nested deeper than this are left out when reading (see TOO_DEEP). Far beyond any ERP
# record (they nest 3 to 6 levels), and shallow enough for every recursive reader after us.
MAX_READ_DEPTH = 256
# What a value nested deeper than MAX_READ_DEPTH reads as. The NUL makes sure it can never be
# stored as text by mistake (PostgreSQL refuses NUL; the storable checks name it).
TOO_DEEP = f"\x00nested deeper than {MAX_READ_DEPTH} levels"
# Python refuses to convert longer digit strings to int (a guard against quadratic time).
_MAX_INT_DIGITS = 4300

# A JSON string (escapes included) or a bracket: enough to follow the nesting of a document.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def loads(text: str) -> Any:
    """`json.loads`, faster; raises `json.JSONDecodeError` (its message) on invalid JSON and
    nothing else, however deep or long what it reads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return _standard_loads(text)
    except RecursionError:
        pass
    try:
        return _standard_loads(_without_deep_values(text))
    except RecursionError:
        raise JSONDecodeError(f"nested deeper than {MAX_READ_DEPTH} levels", text, 0) from None


def _standard_loads(text: str) -> Any:
    # The same value where orjson is only stricter, or json's error.
    return json.loads(text, parse_int=_int_or_decimal)


def _int_or_decimal(digits: str) -> int | Decimal:
    return Decimal(digits) if len(digits) > _MAX_INT_DIGITS else int(digits)


def _without_deep_values(text: str) -> str:
    """`text` with every array or object opened deeper than MAX_READ_DEPTH replaced by the
    string TOO_DEEP. Only brackets outside strings count; malformed text stays malformed."""
    parts: list[str] = []
    depth, cut_from, kept_until = 0, -1, 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth == MAX_READ_DEPTH + 1:
                cut_from = match.start()
        elif token in "]}":
            if depth == MAX_READ_DEPTH + 1 and cut_from >= 0:
                parts += (text[kept_until:cut_from], json.dumps(TOO_DEEP))
                kept_until, cut_from = match.end(), -1
            depth -= 1
    parts.append(text[kept_until:])
    return "".join(parts)


def canonical_bytes(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 unescaped: what `json.dumps(value, sort_keys=True,
    ensure_ascii=False, separators=(",", ":"), default=str)` gives for JSON-loaded data, so
    content hashes stored before stay valid. The one difference, floats below 1e-4 written
    `1e-7` instead of `1e-07`, costs at most one rewrite of such a sale, never an effect.
    Values orjson refuses (lone surrogates, Decimals, nesting beyond 254 levels) are written
    exactly as `json.dumps` would, without its recursion."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        pass
    return _canonical_text(value).encode("utf-8", "surrogatepass")


def canonical_text(value: Any) -> str:
    """`json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    default=str)` exactly (NaN included, unlike orjson), at any depth."""
    try:
        return json.dumps(
            value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
        )
    except RecursionError:
        return _canonical_text(value)


class _Raw(str):
    """Already-encoded JSON punctuation on the encoder's stack."""


def _canonical_text(value: Any) -> str:
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item)
        elif isinstance(item, dict):
            entries = sorted((_key_text(key), entry) for key, entry in item.items())
            stack.append(_Raw("}"))
            for position in range(len(entries) - 1, -1, -1):
                key, entry = entries[position]
                stack.append(entry)
                separator = "," if position else ""
                stack.append(_Raw(separator + json.encoder.encode_basestring(key) + ":"))
            stack.append(_Raw("{"))
        elif isinstance(item, list | tuple):
            stack.append(_Raw("]"))
            for position in range(len(item) - 1, -1, -1):
                stack.append(item[position])
                if position:
                    stack.append(_Raw(","))
            stack.append(_Raw("["))
        else:
            out.append(_scalar_text(item))
    return "".join(out)


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else _scalar_text(key).strip('"')


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    return json.encoder.encode_basestring(value if isinstance(value, str) else str(value))


def dumps(value: Any) -> bytes:
    """Compact JSON for JSONB columns; values JSON cannot hold (Decimal, dates) as text."""
    return orjson.dumps(value, default=str)
