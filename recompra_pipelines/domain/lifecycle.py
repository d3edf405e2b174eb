"""The once-a-day triggers (docs/business-rules.md#campaign-triggers): pure rules on dates.

The lifecycle run of an organization-local day D is the night that closes D: it runs once D
has ended, scores the clients as of the end of D (their segment entries and stays are D's),
and decides the campaigns of the morning after, D + 1 (birthdays, recurrent days, cashback
about to expire), at the organization's lifecycle hour of D + 1 (the trigger time). A re-run
or a backfill decides exactly like the original run.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from recompra_pipelines.domain.campaign_rules import Campaign, Period
from recompra_pipelines.domain.local_time import local_midnight
from recompra_pipelines.domain.vocabulary import RecurrenceType, TimeUnit

DEFAULT_NOTICE = Period(3, TimeUnit.DAYS)


def acting_day(day: date) -> date:
    """The day the lifecycle run of ``day`` acts on: the next one, when the run happens."""
    return day + timedelta(days=1)


def trigger_time(day: date, hour: int, timezone: ZoneInfo) -> datetime:
    """When the lifecycle run of ``day`` decides: its acting day at the lifecycle hour."""
    return datetime.combine(acting_day(day), time(hour), tzinfo=timezone)


def is_birthday(birth: date, day: date) -> bool:
    """Month and day match; a 29 February birthday is celebrated on 28 February in other years."""
    if (birth.month, birth.day) == (day.month, day.day):
        return True
    return (
        (birth.month, birth.day) == (2, 29)
        and (day.month, day.day) == (2, 28)
        and not calendar.isleap(day.year)
    )


def birthday_days(day: date) -> list[tuple[int, int]]:
    """The (month, day) of birth dates celebrated on `day`."""
    days = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        days.append((2, 29))
    return days


def permanence_due(campaign: Campaign, since: date, day: date) -> bool:
    """In the segment for strictly more than the campaign's time."""
    period = campaign.time_in_segment
    return period is not None and period.add_to(since) < day


def notice_window(campaign: Campaign, day: date, timezone: ZoneInfo) -> tuple[datetime, datetime]:
    """Lots expiring in (D 00:00, D + notice 00:00], organization time
    (docs/business-rules.md#cashback-about-to-expire)."""
    notice = campaign.notice or DEFAULT_NOTICE
    return local_midnight(day, timezone), local_midnight(notice.add_to(day), timezone)


def recurs_on(campaign: Campaign, day: date) -> bool:
    """Whether a RECORRENTE campaign is scheduled on `day` (organization-local).

    DIARIO every `interval` days from the start; SEMANAL on the listed weekdays (0 = Sunday)
    of every `interval`-th week (weeks start on Sunday); MENSAL on the listed days of every
    `interval`-th month, a day the month lacks (31 in April) falling on its last day.
    """
    start, interval = campaign.recurrence_start, campaign.recurrence_interval or 1
    if start is None or day < start:
        return False
    kind = campaign.recurrence_type
    if kind == RecurrenceType.DAILY:
        return (day - start).days % interval == 0
    if kind == RecurrenceType.WEEKLY:
        weekday = (day.weekday() + 1) % 7  # Python: Monday = 0; ours: Sunday = 0
        week_start = start - timedelta(days=(start.weekday() + 1) % 7)
        weeks = (day - week_start).days // 7
        return weekday in (campaign.recurrence_weekdays or ()) and weeks % interval == 0
    if kind == RecurrenceType.MONTHLY:
        months = (day.year - start.year) * 12 + day.month - start.month
        last = calendar.monthrange(day.year, day.month)[1]
        days = campaign.recurrence_month_days or ()
        listed = day.day in days or (day.day == last and any(d > last for d in days))
        return listed and months % interval == 0
    return False
