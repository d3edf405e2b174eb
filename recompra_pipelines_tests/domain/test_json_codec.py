"""The fast JSON path gives the standard library's answers: same values, same hashes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from recompra_pipelines import json_codec
from recompra_pipelines.domain.sales import record_hash

RECORDS = [
    {"id": "1", "valor": "45,90", "itens": [{"vcusto": 12.5, "qtde": "1.000"}], "z": None},
    {"cliente": "JOSÉ da Silva\t\n", "b": True, "n": 2**62, "nested": {"b": 1, "a": [1, 2.25]}},
    {"unicode": "ção 🎉 \u2028 \x7f \x00", "empty": {}, "list": []},
]


@pytest.mark.parametrize("record", RECORDS)
def test_canonical_bytes_are_the_standard_librarys(record):
    expected = json.dumps(
        record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    assert json_codec.canonical_bytes(record) == expected.encode()
    assert record_hash(json.loads(json.dumps(record))) == record_hash(record)


def test_what_orjson_refuses_is_read_like_the_standard_library():
    # NaN: one record is quarantined later by its field, the day still loads.
    value = json_codec.loads('{"vcusto": NaN}')["vcusto"]
    assert value != value
    with pytest.raises(json_codec.JSONDecodeError) as raised:
        json_codec.loads('{"resultado": [')
    assert raised.value.pos == len('{"resultado": [')


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_any_depth_reads_the_part_beyond_the_limit_as_too_deep():
    text = '{"resultado": [{"id": "1"}, {"id": "2", "x": ' + "[" * 5000 + "]" * 5000 + "}]}"
    records = json_codec.loads(text)["resultado"]
    assert records[0] == {"id": "1"}
    value, depth = records[1]["x"], 3  # the document, `resultado` and the record hold it
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert (value, depth) == (json_codec.TOO_DEEP, json_codec.MAX_READ_DEPTH)


def test_unreadable_at_any_depth_is_a_decode_error_never_a_recursion_error():
    with pytest.raises(json_codec.JSONDecodeError, match="nested deeper than 256 levels"):
        json_codec.loads("[" * 5000)


def test_an_integer_too_long_for_python_reads_as_an_exact_decimal():
    assert json_codec.loads('{"valor": ' + "9" * 5000 + "}")["valor"] == Decimal("9" * 5000)


@pytest.mark.parametrize(
    "value",
    [
        nested(300, {"b": "ção", "a": [1.5, None, True]}),
        {"s": "\ud800", "n": float("nan"), "i": float("-inf")},
        {"d": Decimal("1.10"), "k": {2: "int key"}},
    ],
)
def test_canonical_bytes_of_what_orjson_refuses_are_still_the_standard_librarys(value):
    expected = json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode("utf-8", "surrogatepass")
    assert json_codec.canonical_bytes(value) == expected
    assert json_codec.canonical_text(value) == expected.decode("utf-8", "surrogatepass")


def test_canonical_bytes_of_any_depth_never_recurse():
    assert json_codec.canonical_bytes(nested(20_000)) == b"[" * 20_000 + b"1" + b"]" * 20_000
