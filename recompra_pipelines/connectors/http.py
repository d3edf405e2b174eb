"""Polite HTTP for ERP connectors: timeouts, bounded jittered backoff, Retry-After (R-ING-6).

Retries happen on timeouts, connection errors, 429 and 5xx only; any other 4xx is final. A
429's Retry-After is honoured (capped) instead of the computed backoff.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from recompra_pipelines.connectors.errors import ErpRequestError

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0


@dataclass(frozen=True)
class HttpOutcome:
    response: httpx.Response
    attempts: int


def post_json_with_retries(
    client: httpx.Client,
    url: str,
    body: dict,
    *,
    retry: RetrySettings,
    describe: str,
    sleep: Callable[[float], None] = time.sleep,
) -> HttpOutcome:
    """POST `body` and return the first non-retryable response; `describe` names the call in errors."""
    last_problem = ""
    for attempt in range(1, retry.max_attempts + 1):
        try:
            response = client.post(url, json=body)
        except httpx.TimeoutException:
            last_problem = "timed out"
            wait = _backoff(attempt, retry)
        except httpx.TransportError as error:
            last_problem = f"connection failed ({type(error).__name__})"
            wait = _backoff(attempt, retry)
        else:
            if response.status_code not in RETRYABLE_STATUS:
                return HttpOutcome(response=response, attempts=attempt)
            last_problem = f"HTTP {response.status_code}"
            wait = _retry_after(response, retry) if response.status_code == 429 else None
            if wait is None:
                wait = _backoff(attempt, retry)
        if attempt < retry.max_attempts:
            sleep(wait)
    raise ErpRequestError(f"{describe}: {last_problem} after {retry.max_attempts} attempts")


def _backoff(attempt: int, retry: RetrySettings) -> float:
    base = min(retry.max_backoff_seconds, retry.backoff_seconds * 2 ** (attempt - 1))
    return base * random.uniform(0.5, 1.0)


def _retry_after(response: httpx.Response, retry: RetrySettings) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, min(seconds, retry.max_retry_after_seconds))
