"""Alerts that reach a person: failed ERROR checks and failed runs, sent to a Slack-compatible
webhook and/or e-mail, once per incident, with a "recovered" when it heals (the freshness
sensor sends its own through `send_alerts`).

`operator_alerts_sensor` reads what happened since its last tick from Dagster's event log —
run failures and successes, asset check evaluations — and keeps the open incidents in its
cursor, so the same failure on the next ticks sends nothing. A message a destination refused
stays in the cursor and is sent again on the next tick.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum

import dagster as dg
from dagster._core.event_api import RunStatusChangeRecordsFilter
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
)

from recompra_pipelines.automation.tick_log import TickDecisions
from recompra_pipelines.dagster_ui import asset_checks_page, run_page
from recompra_pipelines.domain.incidents import Alert, Observation, track
from recompra_pipelines.partitions import DAY_TAG, ORG_TAG, PARTITION_TAG
from recompra_pipelines.resources.alerting import (
    WEBHOOK_URL_ENV,
    Alerting,
    AlertNotDelivered,
    AlertSettings,
    deliver,
)

IMPLICIT_ASSET_JOB = "__ASSET_JOB"
RUN_EVENTS = (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS)
PAGE = 500
# Messages kept for a destination that is down; beyond this the oldest are dropped.
MAX_UNDELIVERED = 200


@dataclass
class AlertCursor:
    """Where the last tick stopped reading, the open incidents, messages not delivered yet."""

    run_events: dict[str, int] = field(default_factory=dict)  # event type -> last storage id
    checks: dict[str, int] = field(default_factory=dict)  # check key -> last execution id
    open: dict[str, str] = field(default_factory=dict)  # incident key -> opening title
    undelivered: list[dict] = field(default_factory=list)
    started: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> AlertCursor:
        return cls(**json.loads(raw)) if raw else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def operator_alerts_sensor(context: dg.SensorEvaluationContext, alerts: Alerting):
    """Every minute: one message per new incident (a failed ERROR check of a partition, failed
    runs of a job and partition) and one when it recovers."""
    settings = alerts.settings()
    cursor = AlertCursor.parse(context.cursor)
    instance = context.instance
    check_keys = sorted(
        context.repository_def.asset_graph.asset_check_keys, key=lambda k: k.to_user_string()
    )
    if not cursor.started:
        # Start from now: the history before this sensor ran was nobody's incident.
        _skip_history(instance, cursor, check_keys)
        context.update_cursor(cursor.dump())
        return dg.SkipReason("alerts start from now; earlier failures are not replayed")
    observations = _run_observations(instance, cursor, settings) + _check_observations(
        instance, cursor, check_keys, settings
    )
    observations.sort(key=lambda pair: pair[0])
    cursor.open, new_alerts = track(cursor.open, [seen for _, seen in observations])
    decisions = TickDecisions(context.log)
    outbox = [*cursor.undelivered, *(asdict(alert) for alert in new_alerts)]
    cursor.undelivered = send_alerts(settings, [Alert(**a) for a in outbox], decisions)
    context.update_cursor(cursor.dump())
    return dg.SkipReason(
        f"{len(observations)} outcome(s) read, {len(cursor.open)} incident(s) open: "
        f"{decisions.summary() if decisions.counts else 'nothing to send'}"
    )


class Delivery(StrEnum):
    SENT = "alert sent"
    NO_DESTINATION = "not sent: no destination configured"
    DEFERRED = "not delivered: sent again next tick"


def send_alerts(
    settings: AlertSettings, alerts: list[Alert], decisions: TickDecisions
) -> list[dict]:
    """Deliver each alert, with a log line each; returns those a destination refused, to be
    sent again on the next tick (the newest MAX_UNDELIVERED of them)."""
    undelivered: list[dict] = []
    for alert in alerts:
        if not settings.has_destination:
            decisions.record(
                alert.headline,
                Delivery.NO_DESTINATION,
                f"set {WEBHOOK_URL_ENV} or RECOMPRA_ALERT_SMTP_HOST",
                warning=True,
            )
            continue
        try:
            deliver(settings, alert.headline, alert.text())
        except AlertNotDelivered as error:
            decisions.record(alert.headline, Delivery.DEFERRED, str(error), warning=True)
            undelivered.append(asdict(alert))
        else:
            decisions.record(alert.headline, Delivery.SENT)
    return undelivered[-MAX_UNDELIVERED:]


def _skip_history(
    instance: dg.DagsterInstance, cursor: AlertCursor, check_keys: list[dg.AssetCheckKey]
) -> None:
    for event_type in RUN_EVENTS:
        latest = instance.fetch_run_status_changes(event_type, limit=1).records
        cursor.run_events[event_type.value] = latest[0].storage_id if latest else 0
    for key in check_keys:
        latest = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
        cursor.checks[key.to_user_string()] = latest[0].id if latest else 0
    cursor.started = True


def _run_observations(
    instance: dg.DagsterInstance, cursor: AlertCursor, settings: AlertSettings
) -> list[tuple[float, Observation]]:
    """Run failures and successes since the last tick (a success closes a run incident)."""
    outcomes: list[tuple[float, str, bool]] = []
    for event_type in RUN_EVENTS:
        after = cursor.run_events.get(event_type.value, 0)
        while True:
            page = instance.fetch_run_status_changes(
                RunStatusChangeRecordsFilter(event_type, after_storage_id=after),
                limit=PAGE,
                ascending=True,
            )
            for record in page.records:
                failed = event_type == dg.DagsterEventType.RUN_FAILURE
                outcomes.append((record.timestamp, record.run_id, failed))
                after = record.storage_id
            if not page.has_more:
                break
        cursor.run_events[event_type.value] = after
    if not outcomes:
        return []
    runs = {
        run.run_id: run
        for run in instance.get_runs(
            filters=dg.RunsFilter(run_ids=list({run_id for _, run_id, _ in outcomes}))
        )
    }
    observations = []
    for at, run_id, failed in outcomes:
        run = runs.get(run_id)
        if run is None:  # deleted since (retention)
            continue
        scope = _scope(run.tags.get(ORG_TAG), run.tags.get(DAY_TAG), run.tags.get(PARTITION_TAG))
        details = _failed_steps(instance, run_id) if failed else (f"run {run_id} succeeded",)
        observations.append(
            (
                at,
                Observation(
                    key=f"run:{run.job_name}:{run.tags.get(PARTITION_TAG, '-')}",
                    failing=failed,
                    title=f"runs of {_job_label(run.job_name)} — {scope}",
                    details=details,
                    link=run_page(settings.ui_url, run_id),
                ),
            )
        )
    return observations


def _job_label(job_name: str) -> str:
    """Runs of an asset selection launched from the UI belong to Dagster's implicit job."""
    return "assets materialized from the UI" if job_name == IMPLICIT_ASSET_JOB else job_name


def _failed_steps(instance: dg.DagsterInstance, run_id: str) -> tuple[str, ...]:
    lines = []
    for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        failure = event.dagster_event.step_failure_data
        # A step that refused to run explains itself (dg.Failure); otherwise the error says.
        text = (
            failure.user_failure_data.description
            if failure.user_failure_data and failure.user_failure_data.description
            else (failure.error.message if failure.error else event.message or "")
        )
        first = text.strip().splitlines()[0][:400] if text.strip() else "?"
        lines.append(f"failed step {event.step_key}: {first}")
    return tuple(lines) or (f"run {run_id} failed",)


def _check_observations(
    instance: dg.DagsterInstance,
    cursor: AlertCursor,
    check_keys: list[dg.AssetCheckKey],
    settings: AlertSettings,
) -> list[tuple[float, Observation]]:
    """ERROR check failures and passes since the last tick; a WARN failure neither opens nor
    closes an incident (it does not page)."""
    observations = []
    for key in check_keys:
        name = key.to_user_string()
        last = cursor.checks.get(name, 0)
        fresh = [
            record
            for record in instance.event_log_storage.get_asset_check_execution_history(
                key, limit=PAGE, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
            )
            if record.id > last
        ]
        for record in reversed(fresh):  # oldest first
            evaluation = record.event.asset_check_evaluation if record.event else None
            if evaluation is None:
                continue
            failing = not evaluation.passed
            if failing and evaluation.severity != dg.AssetCheckSeverity.ERROR:
                continue
            partition = record.partition or evaluation.partition
            org_id, day = _org_and_day(partition)
            numbers = ", ".join(
                f"{label} = {value.value}"
                for label, value in evaluation.metadata.items()
                if isinstance(value.value, int | float) and not isinstance(value.value, bool)
            )
            details = tuple(
                line for line in (evaluation.description, numbers and f"numbers: {numbers}") if line
            )
            observations.append(
                (
                    record.create_timestamp,
                    Observation(
                        key=f"check:{name}:{partition or '-'}",
                        failing=failing,
                        title=f"check {key.name} on {key.asset_key.to_user_string()} — "
                        f"{_scope(org_id, day, partition)}",
                        details=details,
                        link=(
                            run_page(settings.ui_url, record.run_id)
                            if record.run_id
                            else asset_checks_page(settings.ui_url, key.asset_key.to_user_string())
                        ),
                    ),
                )
            )
        if fresh:
            cursor.checks[name] = max(record.id for record in fresh)
    return observations


def _org_and_day(partition: str | None) -> tuple[str | None, str | None]:
    if partition and "|" in partition:
        day, org_id = partition.split("|", 1)
        return org_id, day
    return partition, None


def _scope(org_id: str | None, day: str | None, partition: str | None) -> str:
    if org_id and day:
        return f"organization {org_id}, day {day}"
    if org_id or partition:
        return f"organization {org_id or partition}"
    return "all organizations"
