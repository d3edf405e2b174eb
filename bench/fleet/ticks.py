"""What each 5-minute tick of the sync schedule did, read back from Dagster's storage.

Per tick: the org x day partitions due (the schedule's own rule, `days_to_sync`), the runs it
launched, the due partitions skipped because their previous run was still queued or running at
the tick, and the rest, skipped because the ERP's answer had not changed. Per run: queue wait
(created → the run coordinator's RUN_STARTING), start (RUN_STARTING → the run worker's RUN_START: process start and code
import), duration (RUN_START → end). The tick lag is the end of its last run minus the tick's
scheduled time: under 5 minutes, the next tick finds nothing of this one still going.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.event_api import RunStatusChangeRecordsFilter
from dagster._core.scheduler.instigation import TickStatus

from recompra_pipelines.automation.erp_sync import erp_sync_job
from recompra_pipelines.domain.sync_plan import days_to_sync
from recompra_pipelines.partitions import PARTITION_TAG, is_partition_day, org_day_key
from recompra_pipelines.resources.settings import RecompraSettings

SYNC_SCHEDULE = "erp_sync_schedule"
EVENTS_PER_PAGE = 10_000


@dataclass(frozen=True)
class RunTiming:
    run_id: str
    job_name: str
    partition: str | None
    status: dg.DagsterRunStatus
    created: float
    dequeued: float | None
    started: float | None
    ended: float | None

    @property
    def queue_wait(self) -> float | None:
        return None if self.dequeued is None else self.dequeued - self.created

    @property
    def start_latency(self) -> float | None:
        if self.dequeued is None or self.started is None:
            return None
        return self.started - self.dequeued

    @property
    def duration(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


@dataclass
class TickStats:
    scheduled: datetime
    evaluated_after: float | None  # seconds from the scheduled time to the tick's end
    due: int
    launched: int
    busy: int
    unchanged: int
    lookback: bool
    evaluated: bool  # False: the tick's evaluation failed (or never finished)
    runs: list[RunTiming] = field(default_factory=list)

    @property
    def unfinished(self) -> int:
        return sum(run.ended is None for run in self.runs)

    @property
    def failed(self) -> int:
        return sum(run.status == dg.DagsterRunStatus.FAILURE for run in self.runs)

    @property
    def lag(self) -> float | None:
        """None while a run has not ended (the lag is at least the time measured)."""
        if self.unfinished:
            return None
        ends = [run.ended for run in self.runs]
        if not ends:
            return self.evaluated_after or 0.0
        return max(ends) - self.scheduled.timestamp()


def run_timings(instance: dg.DagsterInstance, since: float) -> list[RunTiming]:
    """Every run created after `since`, any job. A run leaves the queue when the run
    coordinator reports it STARTING, just before it launches the run's process."""
    dequeued = {}
    cursor = None
    while True:
        page = instance.fetch_run_status_changes(
            RunStatusChangeRecordsFilter(
                event_type=dg.DagsterEventType.RUN_STARTING, after_timestamp=since
            ),
            limit=EVENTS_PER_PAGE,
            cursor=cursor,
        )
        dequeued.update({r.event_log_entry.run_id: r.timestamp for r in page.records})
        if not page.has_more:
            break
        cursor = page.cursor
    timings = []
    for record in instance.get_run_records(
        filters=dg.RunsFilter(created_after=datetime.fromtimestamp(since).astimezone())
    ):
        run = record.dagster_run
        timings.append(
            RunTiming(
                run_id=run.run_id,
                job_name=run.job_name,
                partition=run.tags.get(PARTITION_TAG),
                status=run.status,
                created=record.create_timestamp.timestamp(),
                dequeued=dequeued.get(run.run_id),
                started=record.start_time,
                ended=record.end_time,
            )
        )
    return timings


def sync_ticks(instance: dg.DagsterInstance, start: float, end: float) -> list[dg.InstigatorTick]:
    """The sync schedule's ticks scheduled in [start, end], oldest first."""
    (state,) = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        if s.instigator_name == SYNC_SCHEDULE
    ]
    ticks = instance.get_ticks(
        state.instigator_origin_id, state.selector_id, after=float(start - 1), before=float(end + 1)
    )
    return sorted(ticks, key=lambda t: t.timestamp)


def tick_stats(
    tick: dg.InstigatorTick,
    org_ids: list[str],
    timezone: ZoneInfo,
    sync_runs: list[RunTiming],
) -> TickStats:
    """`sync_runs`: every erp_sync run there is (warm-up included), to tell busy partitions."""
    scheduled = datetime.fromtimestamp(tick.timestamp).astimezone(timezone)
    cadence = RecompraSettings().sync_cadence()
    due = {
        str(org_day_key(org_id, day))
        for org_id in org_ids
        for day in days_to_sync(scheduled, timezone, cadence)
        if is_partition_day(day, scheduled)
    }
    by_id = {run.run_id: run for run in sync_runs}
    runs = [by_id[run_id] for run_id in tick.run_ids if run_id in by_id]
    launched = {run.partition for run in runs}
    at = tick.timestamp
    in_progress = {
        run.partition
        for run in sync_runs
        if run.created <= at and (run.ended is None or run.ended > at)
    }
    busy = (due & in_progress) - launched
    return TickStats(
        scheduled=scheduled,
        evaluated_after=(tick.end_timestamp - tick.timestamp) if tick.end_timestamp else None,
        due=len(due),
        launched=len(runs),
        busy=len(busy),
        unchanged=len(due - launched - busy),
        lookback=len(due) > len(org_ids),
        evaluated=tick.status in (TickStatus.SUCCESS, TickStatus.SKIPPED),
        runs=runs,
    )


def sync_job_runs(timings: list[RunTiming]) -> list[RunTiming]:
    return [run for run in timings if run.job_name == erp_sync_job.name]


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]
