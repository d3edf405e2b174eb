"""The answer's envelope: `{"vendas": [...], "completo": true}`."""

from __future__ import annotations

from typing import Any

from recompra_pipelines import json_codec
from recompra_pipelines.connectors.errors import ErpPayloadError


def read_answer(text: str) -> dict[str, Any]:
    try:
        body = json_codec.loads(text)
    except json_codec.JSONDecodeError as error:
        raise ErpPayloadError(f"answer is not JSON ({error.msg} at char {error.pos})") from error
    if not isinstance(body, dict) or not isinstance(body.get("vendas"), list):
        raise ErpPayloadError("answer is not an object with a 'vendas' list")
    return body


def sale_records(text: str) -> list[Any]:
    return read_answer(text)["vendas"]


def lists_whole_day(text: str) -> bool:
    """The ERP says `completo: true` when the list holds every sale of the day."""
    return read_answer(text).get("completo") is True
