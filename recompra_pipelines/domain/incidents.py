"""One message per incident: what an alert sensor sends, given what it observed.

An incident is something failing — a check of one partition, the runs of one job and
partition, one organization's freshness. Its first failure sends one alert; further failures
of the same thing send nothing while it stays open; the first success after it sends one
"recovered" message and closes it. So a broken organization pages once, not every 5 minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Observation:
    """One evaluation or run outcome, in the order they happened."""

    key: str  # what it is about, e.g. "check:crm_sales:crm_sales_match_staging:<partition>"
    failing: bool
    title: str  # one line naming the organization, day and check or job
    details: tuple[str, ...] = ()  # the key numbers, the failed step, the error
    link: str = ""  # where to look in the UI


@dataclass(frozen=True)
class Alert:
    key: str
    recovered: bool
    title: str
    details: tuple[str, ...]
    link: str

    @property
    def headline(self) -> str:
        return f"{'RECOVERED' if self.recovered else 'FAILING'}: {self.title}"

    def text(self) -> str:
        lines = [self.headline, *self.details]
        if self.link:
            lines.append(f"Open in Dagster: {self.link}")
        return "\n".join(lines)


def track(
    open_incidents: Mapping[str, str], observations: Iterable[Observation]
) -> tuple[dict[str, str], list[Alert]]:
    """(incidents still open: key -> the title they opened with, alerts to send)."""
    still_open = dict(open_incidents)
    alerts: list[Alert] = []
    for seen in observations:
        if seen.failing and seen.key not in still_open:
            still_open[seen.key] = seen.title
            alerts.append(Alert(seen.key, False, seen.title, seen.details, seen.link))
        elif not seen.failing and seen.key in still_open:
            opened_as = still_open.pop(seen.key)
            alerts.append(Alert(seen.key, True, opened_as, seen.details, seen.link))
    return still_open, alerts
