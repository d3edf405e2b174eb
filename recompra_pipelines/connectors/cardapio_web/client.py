"""CardápioWeb HTTP client: the day's history pages, then one detail call per order.

Every call goes through the merchant's token bucket for its endpoint family (history 5/min,
details 280/min by default), and a 429 holds that bucket for the Retry-After. A history call
that keeps failing fails the run (a partial list could hide orders); a detail call that keeps
failing leaves that order pending in the extract for the next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as day_time
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from recompra_pipelines import json_codec
from recompra_pipelines.connectors.cardapio_web.envelope import DayExtract, history_rows
from recompra_pipelines.connectors.cardapio_web.schema import (
    CATALOG_PATH,
    DEFAULT_BASE_URL,
    DETAIL_PATH,
    HISTORY_PATH,
    HISTORY_STATUSES,
    PER_PAGE,
)
from recompra_pipelines.connectors.errors import (
    ErpPayloadError,
    ErpRequestError,
    FetchDeadlinePassed,
)
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.http import FetchSettings, send_with_retries
from recompra_pipelines.connectors.rate_limit import TokenBucket, shared_bucket
from recompra_pipelines.credentials import Redactor

# A runaway `total_pages` must not page forever: 1,000 pages are 100,000 orders in a day.
MAX_PAGES = 1000
# Why an order was left pending when the fetch step ran out of time.
DEADLINE_PASSED = "the fetch deadline passed"


def day_window(day: date, timezone: ZoneInfo) -> tuple[str, str]:
    """The organization-local day as the UTC instants the API takes (the old code used UTC
    midnight, i.e. 21:00 of the previous day in São Paulo:
    docs/erp-wire-formats.md#the-day-window)."""
    start = datetime.combine(day, day_time(0), tzinfo=timezone)
    end = datetime.combine(day + timedelta(days=1), day_time(0), tzinfo=timezone)
    return _utc_z(start), _utc_z(end)


def _utc_z(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class CardapioWebClient:
    def __init__(
        self,
        *,
        merchant_id: str,
        api_key: str,
        base_url: str | None = None,
        settings: FetchSettings = FetchSettings(),
        history_bucket: TokenBucket | None = None,
        details_bucket: TokenBucket | None = None,
        history_per_minute: float = 5,
        details_per_minute: float = 280,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._merchant_id = merchant_id
        self._api_key = api_key
        self._base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._settings = settings
        self._sleep = sleep
        self._history_bucket = history_bucket or shared_bucket(
            ("cardapio-web", self._base, merchant_id, "history"), history_per_minute
        )
        self._details_bucket = details_bucket or shared_bucket(
            ("cardapio-web", self._base, merchant_id, "details"), details_per_minute
        )

    def __repr__(self) -> str:  # never show the key
        return f"CardapioWebClient(base={self._base!r})"

    def fetch_day(
        self, day: date, timezone: ZoneInfo, previous: DayExtract | None = None
    ) -> RawExtract:
        start, end = day_window(day, timezone)
        headers = {
            "X-Merchant-Id": self._merchant_id,
            "X-Api-Key": self._api_key,
            "Content-Type": "application/json",
        }
        attempts = 0
        with httpx.Client(base_url=self._base, headers=headers) as http:
            pages, attempts = self._history(http, day, start, end)
            summaries = _summaries(pages)
            reusable = _reusable_details(previous, summaries)
            details: list[tuple[str, Any]] = []
            failed: dict[str, str] = {}
            out_of_time: str | None = None
            for order_id in summaries:
                if order_id in reusable:
                    details.append((order_id, reusable[order_id]))
                    continue
                if out_of_time is not None:
                    failed[order_id] = out_of_time
                    continue
                body, error, tries = self._detail(http, order_id)
                attempts += tries
                if error is None:
                    details.append((order_id, body))
                else:
                    failed[order_id] = error
                    # The orders not asked for yet are pending too: the next run fetches them
                    # (and reuses what this one got).
                    if error.startswith(DEADLINE_PASSED):
                        out_of_time = error
        text = DayExtract(history_pages=pages, details=details, failed_details=failed).to_text()
        return RawExtract.from_text(
            request={
                "start_date": start,
                "end_date": end,
                "status": ",".join(HISTORY_STATUSES),
                "per_page": PER_PAGE,
                "history_pages": len(pages),
                "detail_calls": len(summaries) - len(reusable),
                "details_reused": len(reusable),
                "details_failed": len(failed),
            },
            status_code=200,
            text=text,
            attempts=attempts,
        )

    def fetch_catalog(self) -> RawExtract:
        """The merchant's catalog, one call, paced with the history family (5/min)."""
        headers = {"X-Merchant-Id": self._merchant_id, "X-Api-Key": self._api_key}
        describe = "CardápioWeb catalog"
        with httpx.Client(base_url=self._base, headers=headers) as http:
            outcome = send_with_retries(
                http,
                lambda: http.build_request("GET", CATALOG_PATH),
                settings=self._settings,
                describe=describe,
                sleep=self._sleep,
                pace=self._history_bucket,
            )
        response = outcome.response
        if response.status_code >= 400:
            raise ErpRequestError(
                f"{describe}: HTTP {response.status_code} (not retried): {self._excerpt(response.text)}"
            )
        return RawExtract(
            request={"path": CATALOG_PATH},
            status_code=response.status_code,
            content=response.content,
            attempts=outcome.attempts,
        )

    def _history(self, http: httpx.Client, day: date, start: str, end: str):
        pages: list[Any] = []
        attempts = 0
        page, total_pages = 1, 1
        while page <= min(total_pages, MAX_PAGES):
            params = {
                "page": page,
                "per_page": PER_PAGE,
                "start_date": start,
                "end_date": end,
                "status": ",".join(HISTORY_STATUSES),
            }
            describe = f"CardápioWeb order history page {page} for {day.isoformat()}"
            outcome = send_with_retries(
                http,
                lambda params=params: http.build_request("GET", HISTORY_PATH, params=params),
                settings=self._settings,
                describe=describe,
                sleep=self._sleep,
                pace=self._history_bucket,
            )
            attempts += outcome.attempts
            response = outcome.response
            if response.status_code >= 400:
                raise ErpRequestError(
                    f"{describe}: HTTP {response.status_code} (not retried): {self._excerpt(response.text)}"
                )
            body = _json_or_text(response.text)
            pages.append(body)
            try:
                history_rows(body)
            except ErpPayloadError:
                break  # stored as received; reading the extract reports it
            total_pages = _total_pages(body)
            page += 1
        return pages, attempts

    def _detail(self, http: httpx.Client, order_id: str) -> tuple[Any, str | None, int]:
        describe = f"CardápioWeb order {order_id} detail"
        try:
            outcome = send_with_retries(
                http,
                lambda: http.build_request("GET", DETAIL_PATH.format(order_id=order_id)),
                settings=self._settings,
                describe=describe,
                sleep=self._sleep,
                pace=self._details_bucket,
            )
        except FetchDeadlinePassed:
            return None, f"{DEADLINE_PASSED} before this order's detail was fetched", 0
        except ErpRequestError as error:
            return None, str(error).removeprefix(describe + ": "), self._settings.retry.max_attempts
        response = outcome.response
        if response.status_code >= 400:
            return None, f"HTTP {response.status_code}", outcome.attempts
        body = _json_or_text(response.text)
        if not isinstance(body, dict):
            return None, "detail response is not a JSON object", outcome.attempts
        return body, None, outcome.attempts

    def _excerpt(self, text: str, limit: int = 200) -> str:
        text = " ".join(Redactor([self._api_key]).text(text).split())
        return text if len(text) <= limit else text[:limit] + "…"


def _json_or_text(text: str) -> Any:
    try:
        return json_codec.loads(text)
    except json_codec.JSONDecodeError:
        return text


def _total_pages(page: dict) -> int:
    pagination = page.get("pagination")
    value = pagination.get("total_pages") if isinstance(pagination, dict) else None
    return value if isinstance(value, int) and value > 0 else 1


def _summaries(pages: list[Any]) -> dict[str, tuple[Any, Any]]:
    """Order id -> (status, updated_at), first occurrence wins: pages can shift while new
    orders arrive, repeating an order on two pages."""
    summaries: dict[str, tuple[Any, Any]] = {}
    for page in pages:
        try:
            rows = history_rows(page)
        except ErpPayloadError:
            continue
        for row in rows:
            if isinstance(row, dict) and row.get("id") not in (None, ""):
                summaries.setdefault(str(row["id"]), (row.get("status"), row.get("updated_at")))
    return summaries


def _reusable_details(
    previous: DayExtract | None, summaries: dict[str, tuple[Any, Any]]
) -> dict[str, Any]:
    """The cheap change check: an order whose history summary (status, updated_at) is as in the
    previous extract keeps its stored detail, so a quiet day costs only the history pages."""
    if previous is None:
        return {}
    before = _summaries(previous.history_pages)
    return {
        order_id: body
        for order_id, body in previous.details
        if order_id in summaries
        and summaries[order_id][1] is not None
        and before.get(order_id) == summaries[order_id]
    }
