"""The fast JSON path gives the standard library's answers: same values, same hashes."""

from __future__ import annotations

import json

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
