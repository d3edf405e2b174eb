"""Polite, bounded HTTP for ERP connectors: deadlines, bounded jittered backoff, Retry-After.

Retries happen on timeouts, connection errors, 429 and 5xx only; any other 4xx is final. A
429's Retry-After is honoured (capped) instead of the computed backoff.

Every request has a deadline for connect plus all reads, its body is read in chunks checked
against the deadline and a size limit, and the fetch step has a deadline of its own that no
retry, backoff or rate-limit wait may pass: a slow or hostile ERP fails the run at a known time
and frees the organization's run slot (see `recompra_pipelines.deadlines`).
"""

from __future__ import annotations

import dataclasses
import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Protocol

import httpx

from recompra_pipelines.connectors.errors import ErpRequestError, FetchDeadlinePassed
from recompra_pipelines.deadlines import (
    BodyTooLarge,
    Deadline,
    DeadlineExceeded,
    earliest,
    read_body,
    timeout_within,
)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
CONNECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0


@dataclass(frozen=True)
class FetchSettings:
    """How a connector may talk to its ERP during one fetch step."""

    # Each connect and each read of a request.
    timeout_seconds: float = 60.0
    retry: RetrySettings = RetrySettings()
    # One request, connect plus every read of its body.
    request_deadline_seconds: float = 120.0
    # The whole fetch step: every request, retry, backoff and rate-limit wait.
    fetch_deadline_seconds: float = 240.0
    # The largest response body read (decompressed); a 20,000-sale day is ~50 MB.
    max_response_bytes: int = 256 * 2**20
    # Set when the fetch starts (`started`).
    fetch_deadline: Deadline | None = None

    def started(self) -> FetchSettings:
        """These settings with the fetch step's deadline running from now."""
        return dataclasses.replace(self, fetch_deadline=Deadline.after(self.fetch_deadline_seconds))

    def request_deadline(self) -> Deadline:
        """The deadline of a request starting now: its own, or the fetch step's if sooner."""
        return earliest(Deadline.after(self.request_deadline_seconds), self.fetch_deadline)


@dataclass(frozen=True)
class HttpAnswer:
    """A response read whole within its deadline."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @cached_property
    def text(self) -> str:
        """The body as text: JSON is UTF-8 (RFC 8259); a byte that is not reads as U+FFFD."""
        return self.content.decode("utf-8", "replace")


@dataclass(frozen=True)
class HttpOutcome:
    response: HttpAnswer
    attempts: int


class Pace(Protocol):
    """A shared rate limiter (e.g. a token bucket) that every attempt goes through."""

    def acquire(self, deadline: Deadline | None = None) -> float: ...

    def hold(self, seconds: float) -> None: ...


def send_with_retries(
    client: httpx.Client,
    build: Callable[[], httpx.Request],
    *,
    settings: FetchSettings,
    describe: str,
    sleep: Callable[[float], None] = time.sleep,
    pace: Pace | None = None,
) -> HttpOutcome:
    """Send the request `build` makes until it gives a non-retryable response.

    With a `pace`, every attempt first takes a token from it, and a 429's wait is put on the
    pace instead of slept here: every other call sharing that limit (this run's or a later
    run's in the same process) then waits for the ERP's Retry-After too. No attempt, backoff or
    wait goes past the fetch step's deadline.
    """
    retry = settings.retry
    last_problem = ""
    for attempt in range(1, retry.max_attempts + 1):
        if pace is not None:
            try:
                pace.acquire(settings.fetch_deadline)
            except DeadlineExceeded:
                raise _fetch_deadline_error(describe, settings, last_problem) from None
        deadline = settings.request_deadline()
        try:
            answer = _send_once(client, build, deadline, settings)
        except (httpx.TimeoutException, DeadlineExceeded):
            if deadline is settings.fetch_deadline:
                raise _fetch_deadline_error(
                    f"{describe}: attempt {attempt}", settings, last_problem
                ) from None
            last_problem = f"no complete answer within the {deadline.seconds:g} s request deadline"
            wait = _backoff(attempt, retry)
        except httpx.TransportError as error:
            last_problem = f"connection failed ({type(error).__name__})"
            wait = _backoff(attempt, retry)
        except BodyTooLarge as error:
            raise ErpRequestError(f"{describe}: {error} (not retried)") from error
        else:
            if answer.status_code not in RETRYABLE_STATUS:
                return HttpOutcome(response=answer, attempts=attempt)
            last_problem = f"HTTP {answer.status_code}"
            wait = _retry_after(answer, retry) if answer.status_code == 429 else None
            if wait is not None and pace is not None:
                pace.hold(wait)
                continue
            if wait is None:
                wait = _backoff(attempt, retry)
        if attempt < retry.max_attempts:
            fetch_deadline = settings.fetch_deadline
            if fetch_deadline is not None and wait >= fetch_deadline.remaining():
                raise _fetch_deadline_error(describe, settings, last_problem)
            sleep(wait)
    raise ErpRequestError(f"{describe}: {last_problem} after {retry.max_attempts} attempts")


def _send_once(
    client: httpx.Client,
    build: Callable[[], httpx.Request],
    deadline: Deadline,
    settings: FetchSettings,
) -> HttpAnswer:
    request = build()
    request.extensions["timeout"] = timeout_within(
        deadline, settings.timeout_seconds, CONNECT_TIMEOUT_SECONDS
    ).as_dict()
    response = client.send(request, stream=True)
    try:
        content = read_body(response, deadline, settings.max_response_bytes)
    finally:
        response.close()
    return HttpAnswer(response.status_code, response.headers, content)


def _fetch_deadline_error(
    describe: str, settings: FetchSettings, problem: str
) -> FetchDeadlinePassed:
    seconds = settings.fetch_deadline.seconds if settings.fetch_deadline else 0
    cause = f" (before that: {problem})" if problem else ""
    return FetchDeadlinePassed(f"{describe}: the {seconds:g} s fetch deadline passed{cause}")


def _backoff(attempt: int, retry: RetrySettings) -> float:
    base = min(retry.max_backoff_seconds, retry.backoff_seconds * 2 ** (attempt - 1))
    return base * random.uniform(0.5, 1.0)


def _retry_after(answer: HttpAnswer, retry: RetrySettings) -> float | None:
    value = answer.headers.get("Retry-After")
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
