"""What a schedule or sensor tick decided, one log line per organization.

The lines land in the tick's log in the UI (Automation → the schedule or sensor → a tick →
logs), and a tick that launches nothing says why in its skip message, with the counts — so an
operator tells "unchanged" from "busy" from "inactive" from a failed change check.
"""

from __future__ import annotations

import logging
from collections import Counter
from enum import StrEnum

import dagster as dg


class Decision(StrEnum):
    LAUNCHED = "launched"
    CHANGE_CHECK_FAILED = "change check failed: launched anyway"
    UNCHANGED = "skipped: unchanged"
    IN_PROGRESS = "skipped: run in progress"
    INACTIVE = "skipped: inactive"
    NOT_REGISTERED = "skipped: not registered yet"
    REGISTERED = "skipped: already registered"
    ALREADY_RUN = "skipped: already run"
    NOT_DUE = "skipped: not due"
    NOTHING_DUE = "skipped: nothing due"
    PAUSED = "skipped: paused"


class TickDecisions:
    """Collects a tick's decisions: logs each one and counts them for the skip message."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self.counts: Counter[StrEnum] = Counter()

    def record(
        self, subject: str, decision: StrEnum, detail: str = "", *, warning: bool = False
    ) -> None:
        """`subject` names the organization (and day); `detail` says why, e.g. which run."""
        self.counts[decision] += 1
        line = f"{subject}: {decision}" + (f" — {detail}" if detail else "")
        if warning or decision == Decision.CHANGE_CHECK_FAILED:
            self._log.warning(line)
        else:
            self._log.info(line)

    def summary(self) -> str:
        if not self.counts:
            return "no organization to consider"
        return ", ".join(f"{n} {decision}" for decision, n in sorted(self.counts.items()))

    def skip_reason(self, headline: str = "nothing launched this tick") -> dg.SkipReason:
        return dg.SkipReason(f"{headline}: {self.summary()}")
