"""Organization-local time: the default store timezone and where a local day starts."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

# The stores' timezone unless an organization says otherwise (organizations.fuso_horario), and
# the clock of the schedules and the day partitions.
DEFAULT_TIMEZONE = "America/Sao_Paulo"


def local_midnight(day: date, timezone: ZoneInfo) -> datetime:
    """The instant local day ``day`` starts in ``timezone`` (DST-safe)."""
    return datetime.combine(day, time.min, tzinfo=timezone)
