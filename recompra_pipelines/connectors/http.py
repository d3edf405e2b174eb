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
from typing import Protocol

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


class Pace(Protocol):
    """A shared rate limiter (e.g. a token bucket) that every attempt goes through."""

    def acquire(self) -> None: ...

    def hold(self, seconds: float) -> None: ...


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
    return send_with_retries(
        lambda: client.post(url, json=body), retry=retry, describe=describe, sleep=sleep
    )


def send_with_retries(
    send: Callable[[], httpx.Response],
    *,
    retry: RetrySettings,
    describe: str,
    sleep: Callable[[float], None] = time.sleep,
    pace: Pace | None = None,
) -> HttpOutcome:
    """Call `send` until it gives a non-retryable response.

    With a `pace`, every attempt first takes a token from it, and a 429's wait is put on the
    pace instead of slept here: every other call sharing that limit (this run's or a later
    run's in the same process) then waits for the ERP's Retry-After too.
    """
    last_problem = ""
    for attempt in range(1, retry.max_attempts + 1):
        if pace is not None:
            pace.acquire()
        try:
            response = send()
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
            if wait is not None and pace is not None:
                pace.hold(wait)
                continue
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
