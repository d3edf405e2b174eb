"""Token buckets for ERPs' documented request limits, shared by every run in the process.

An ERP limits requests per merchant per minute, not per run: two runs of one organization
(today and a lookback day) in one process must share the allowance, so buckets live in a
process-wide table keyed by (ERP, merchant, endpoint family). A 429's Retry-After empties the
bucket and holds it until then, so no call through it goes out earlier.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from recompra_pipelines.deadlines import Deadline, DeadlineExceeded

MIN_WAIT = 0.001


class TokenBucket:
    def __init__(
        self,
        per_minute: float,
        *,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.capacity = capacity if capacity is not None else per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._held_until = 0.0
        self._lock = threading.Lock()

    def acquire(self, deadline: Deadline | None = None) -> float:
        """Take one token, sleeping until one is available; returns the seconds waited.
        DeadlineExceeded, without waiting, when the token would come after `deadline`."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                # The epsilon absorbs float rounding of the refill, which could otherwise leave
                # a token at 0.9999999 and a wait too small to move the clock.
                if now >= self._held_until and self._tokens >= 1 - 1e-9:
                    self._tokens = max(self._tokens - 1, 0.0)
                    return waited
                wait = max(self._held_until - now, (1 - self._tokens) / self._rate, MIN_WAIT)
            if deadline is not None and wait >= deadline.remaining():
                raise DeadlineExceeded(
                    f"the rate limit's next slot comes after the {deadline.seconds:g} s deadline"
                )
            self._sleep(wait)
            waited += wait

    def hold(self, seconds: float) -> None:
        """The ERP said "retry after `seconds`": nothing goes out through this bucket before."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens = 0.0
            self._held_until = max(self._held_until, now + max(seconds, 0.0))
            self._updated = max(self._updated, self._held_until)

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now


_BUCKETS: dict[tuple, TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def shared_bucket(key: tuple, per_minute: float) -> TokenBucket:
    """The process-wide bucket for `key`; a changed limit (config edit) gets a fresh bucket."""
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(key)
        if bucket is None or bucket.per_minute != per_minute:
            bucket = _BUCKETS[key] = TokenBucket(per_minute)
        return bucket
