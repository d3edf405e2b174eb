"""The `resultado` envelope of an Online Software response
(docs/erp-wire-formats.md#the-resultado-envelope)."""

from __future__ import annotations

import re
from typing import Any

from recompra_pipelines import json_codec
from recompra_pipelines.connectors.errors import ErpPayloadError
from recompra_pipelines.domain.names import name_match_key

# A store with no sales yet may be answered with a message in place of the list
# (`{"resultado": "Nenhuma venda encontrada"}`): that is an empty day, not a failure. Only
# such a message, compared case- and accent-insensitively; any other text still fails.
_NO_SALES_MESSAGE = re.compile(r"nenhuma? (venda|registro)s?( (encontrad|localizad)[ao]s?)?[.!]?")


def is_no_sales_message(value: Any) -> bool:
    return isinstance(value, str) and _NO_SALES_MESSAGE.fullmatch(name_match_key(value)) is not None


def sales_records(text: str) -> list[Any]:
    """The list under `resultado`, or ErpPayloadError saying what came instead.

    Only the envelope is checked here: a bad record inside the list is the mapper's business
    (it is quarantined alone), while a response that is not a list of sales at all fails the
    run, because loading "nothing" from it could hide a whole day. The ERP's no-sales message
    is the one exception: an empty day.
    """
    try:
        body = json_codec.loads(text)
    except json_codec.JSONDecodeError as error:
        raise ErpPayloadError(
            f"response is not JSON ({error.msg} at char {error.pos}): {_excerpt(text)}"
        ) from error
    if not isinstance(body, dict):
        raise ErpPayloadError(
            f"response is a JSON {type(body).__name__}, not an object with 'resultado'"
        )
    if "resultado" not in body:
        raise ErpPayloadError(
            f"response has no 'resultado' (keys: {', '.join(sorted(body)) or 'none'})"
        )
    result = body["resultado"]
    if is_no_sales_message(result):
        return []
    if not isinstance(result, list):
        shown = _excerpt(result) if isinstance(result, str) else type(result).__name__
        raise ErpPayloadError(f"'resultado' is not a list of sales: {shown}")
    return result


def _excerpt(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= limit else text[:limit] + "…")
