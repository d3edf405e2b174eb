"""Which days a sync tick covers for one organization (pure, so it is tested without Dagster).

Today is synced on every tick. Earlier days (the lookback, default: yesterday) are re-read at a
lower cadence so that late changes - a cancellation after closing, a sale typed in late - are
seen; the tick at local midnight always includes yesterday, so the last minutes of a day are
never missed (the "midnight gap" of a today-only schedule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SyncCadence:
    lookback_days: int = 1
    lookback_every_minutes: int = 30

    def __post_init__(self) -> None:
        if self.lookback_days < 0:
            raise ValueError("lookback_days must be >= 0")
        if not 5 <= self.lookback_every_minutes <= 24 * 60:
            raise ValueError("lookback_every_minutes must be between 5 and 1440")


def days_to_sync(tick: datetime, timezone: ZoneInfo, cadence: SyncCadence) -> list[date]:
    """The organization-local days this tick syncs, today first."""
    local = tick.astimezone(timezone)
    today = local.date()
    minute_of_day = local.hour * 60 + local.minute
    # Ticks are every 5 minutes; a tick within the first 5 minutes of a cadence slot counts.
    lookback_due = minute_of_day % cadence.lookback_every_minutes < 5
    days = [today]
    if lookback_due:
        days += [today - timedelta(days=n) for n in range(1, cadence.lookback_days + 1)]
    return days


def latest_day_past_hour(local_now: datetime, hour: int) -> date:
    """The latest organization-local day whose daily job is due at `local_now`: today once
    `hour` has passed there, else yesterday. Daily schedules look at it on every tick, so a
    missed tick is caught up, and request it while it has no successful run."""
    if not 0 <= hour <= 23:
        raise ValueError(f"the hour of a daily job must be between 0 and 23, got {hour}")
    today = local_now.date()
    return today if local_now.hour >= hour else today - timedelta(days=1)
