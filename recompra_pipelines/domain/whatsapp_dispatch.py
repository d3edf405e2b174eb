"""When and whether to (re)send a WhatsApp message: error classes, backoff, quiet hours.

Pure rules shared by the immediate path and the dispatcher
(docs/whatsapp.md#errors-what-is-retried). Decisions are made on Meta's numeric error ``code``,
never on titles or messages.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import Enum, StrEnum
from zoneinfo import ZoneInfo

# Throughput (130429), pair rate (131056), number under maintenance (131057), app-level
# (4) and WABA (80007) limits: the message was not sent, trying later is what Meta asks.
RETRYABLE_CODES = frozenset({130429, 131056, 131057, 4, 80007})
# Meta's pair rate: about one message per 6 s to the same recipient
# (docs/whatsapp.md#throughput-limits).
RECIPIENT_INTERVAL = timedelta(seconds=6)
DEFAULT_MESSAGES_PER_SECOND = 80


class ConnectionType(StrEnum):
    """How an organization's messages leave (``whatsapp_connections.tipo``): Meta's Cloud
    API with a phone-number id and token, or the company's internal WhatsApp gateway, a
    session-based service that sends rendered text (``POST /messages/send``)."""

    CLOUD_API = "META_CLOUD_API"
    INTERNAL_GATEWAY = "INTERNAL_GATEWAY"


class Outcome(Enum):
    SENT = "sent"
    RETRY = "retry"  # certainly not sent: try again later
    FAILED = "failed"  # Meta refused it for good
    UNKNOWN = "unknown"  # the request left and no answer came: maybe sent


def classify_graph_error(http_status: int, code: int | None) -> Outcome:
    """Retry only what Meta says is temporary (rate limits, 5xx); 131026, 132000, 132001,
    131047, 100, auth errors… are final and recorded with their code."""
    if code in RETRYABLE_CODES or http_status >= 500:
        return Outcome.RETRY
    return Outcome.FAILED


def endpoint_failed(outcome: Outcome, http_status: int | None) -> bool:
    """A send that says nothing about the message, only that the endpoint is not answering:
    no connection, no answer, or a 5xx. These count toward the number's circuit breaker; any
    answer from Meta (a sent message, a Graph error about it, a rate limit) does not."""
    if http_status is not None:
        return http_status >= 500
    return outcome in (Outcome.RETRY, Outcome.UNKNOWN)


def retry_delay(attempt: int, key: str, *, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff with deterministic jitter: ``base · 2^(attempt-1)``, capped, then
    scaled into [50 %, 100 %] by a hash of ``key`` so a burst that hit a limit together does
    not come back together (and tests stay reproducible)."""
    exponential = min(cap, base * (2 ** max(0, attempt - 1)))
    fraction = int.from_bytes(hashlib.sha256(key.encode()).digest()[:2], "big") / 0xFFFF
    return exponential * (0.5 + 0.5 * fraction)


def phone_number_interval(messages_per_second: float) -> timedelta:
    """Spacing between two messages from one number so no 1-second window exceeds the limit."""
    if messages_per_second <= 0:
        raise ValueError("messages_per_second must be positive")
    return timedelta(seconds=1 / messages_per_second)


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in the organization's timezone, in which no message goes out;
    ``start > end`` wraps past midnight (22:00–08:00)."""

    start: time
    end: time

    @classmethod
    def parse(cls, config: dict | None) -> QuietHours | None:
        """From organizations.configuracao ``{"whatsapp": {"silencio": {"inicio": "22:00",
        "fim": "08:00"}}}``; None (the default) means messages go out at any hour."""
        window = ((config or {}).get("whatsapp") or {}).get("silencio")
        if not window:
            return None
        quiet = cls(time.fromisoformat(window["inicio"]), time.fromisoformat(window["fim"]))
        return None if quiet.start == quiet.end else quiet

    def ends_after(self, moment: datetime, timezone: ZoneInfo) -> datetime | None:
        """When the quiet window containing ``moment`` ends, or None when it is not quiet."""
        local = moment.astimezone(timezone)
        now = local.time()
        if self.start < self.end:
            quiet = self.start <= now < self.end
            end_day = local.date()
        else:
            quiet = now >= self.start or now < self.end
            end_day = local.date() + timedelta(days=1) if now >= self.start else local.date()
        if not quiet:
            return None
        return datetime.combine(end_day, self.end, tzinfo=timezone)
