"""How long the CRM keeps its copies of what the ERPs and WhatsApp sent, and the cutoffs that
follows from a moment: pure arithmetic, the deleting is `db.retention`'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class RetentionCutoffs:
    """Raw extracts go when their business day is before `extract_day` and they were last
    captured before `extract_captured`; quarantine rows when last seen before
    `quarantine_seen`; webhook bodies received before `webhook_received` (once their events are
    applied); catalog answers last captured before `catalog_captured` (never an organization's
    latest)."""

    extract_day: date
    extract_captured: datetime
    quarantine_seen: datetime
    webhook_received: datetime
    catalog_captured: datetime


@dataclass(frozen=True)
class RetentionPolicy:
    raw_extract_days: int
    quarantine_days: int
    webhook_days: int
    catalog_extract_days: int

    def cutoffs(self, now: datetime, today: date) -> RetentionCutoffs:
        """`today`: the business day of `now` (the partitions' calendar)."""
        return RetentionCutoffs(
            extract_day=today - timedelta(days=self.raw_extract_days),
            extract_captured=now - timedelta(days=self.raw_extract_days),
            quarantine_seen=now - timedelta(days=self.quarantine_days),
            webhook_received=now - timedelta(days=self.webhook_days),
            catalog_captured=now - timedelta(days=self.catalog_extract_days),
        )
