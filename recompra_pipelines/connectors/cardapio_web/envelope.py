"""The stored day extract of CardápioWeb: every history page and detail response of one day.

CardápioWeb answers a day in many responses (history pages, then one detail per order). They
are stored together as one JSON document, so the extract keeps the shared contract: one raw
text per org x day, hashed and stored before anything parses it, and a day can be rebuilt
without calling the ERP. Orders whose detail call failed are listed in `failed_details`: they
are pending (reported, fetched again by the next run), never missing or cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recompra_pipelines import json_codec
from recompra_pipelines.connectors.errors import ErpPayloadError

FORMAT = "cardapio-web/day-extract/v1"


@dataclass(frozen=True)
class DayExtract:
    history_pages: list[Any]
    # (order id, detail response) in history order.
    details: list[tuple[str, Any]]
    # order id -> why its detail is missing (no credentials, no customer data in the reason).
    failed_details: dict[str, str]

    def to_text(self) -> str:
        """Deterministic text: the same answers from the ERP give the same hash."""
        return json_codec.canonical_text(
            {
                "format": FORMAT,
                "history_pages": self.history_pages,
                "details": [{"order_id": oid, "response": body} for oid, body in self.details],
                "failed_details": [
                    {"order_id": oid, "reason": reason}
                    for oid, reason in sorted(self.failed_details.items())
                ],
            }
        )


def history_rows(page: Any) -> list[Any]:
    """The order summaries of one history page, or ErpPayloadError saying what came instead."""
    if not isinstance(page, dict) or not isinstance(page.get("orders"), list):
        shown = type(page).__name__ if not isinstance(page, str) else repr(page[:120])
        raise ErpPayloadError(f"history page is not an object with an 'orders' list: {shown}")
    return page["orders"]


def read_day_extract(text: str) -> DayExtract:
    try:
        body = json_codec.loads(text)
    except json_codec.JSONDecodeError as error:
        raise ErpPayloadError(f"extract is not JSON ({error.msg} at char {error.pos})") from error
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ErpPayloadError(f"extract is not a {FORMAT} document")
    pages = body.get("history_pages")
    if not isinstance(pages, list):
        raise ErpPayloadError("extract has no 'history_pages' list")
    for page in pages:
        history_rows(page)
    return DayExtract(
        history_pages=pages,
        details=[(str(d["order_id"]), d["response"]) for d in body.get("details", [])],
        failed_details={str(f["order_id"]): f["reason"] for f in body.get("failed_details", [])},
    )


def history_is_complete(extract: DayExtract) -> bool:
    """Whether the history lists the whole day: every page up to the last one it announced was
    read (a run stopped short by the page cap or an unreadable page lists only part of it).
    Orders whose detail failed are still listed: pending, not missing."""
    announced = [
        page["pagination"].get("total_pages")
        for page in extract.history_pages
        if isinstance(page.get("pagination"), dict)
    ]
    pages = max((n for n in announced if isinstance(n, int) and n > 0), default=1)
    return len(extract.history_pages) >= pages


def order_records(text: str) -> list[Any]:
    """The detail responses of the day: one record per delivered order."""
    return [response for _, response in read_day_extract(text).details]


def pending_order_ids(text: str) -> list[str]:
    return sorted(read_day_extract(text).failed_details)
