"""Run the `erp_sync` job for one org x day in this process (CLI `sync`, `demo --once`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import dagster as dg

from recompra_pipelines.dagster_ui import dagster_home
from recompra_pipelines.db.engine import create_crm_engine
from recompra_pipelines.db.extracts import staged_record_counts
from recompra_pipelines.db.sync_progress import StepMarker, mark_done
from recompra_pipelines.errors import one_line, step_error_names
from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.change_check import ContentCheck
from recompra_pipelines.sync.organizations import load_organization


@dataclass(frozen=True)
class SyncSummary:
    org_id: str
    day: date
    success: bool
    fetched: int
    inserted: int
    updated: int
    unchanged: int
    cancelled: int
    quarantined: int
    error: str | None = None
    checks_passed: int = 0
    checks_run: int = 0
    # "check_name (SEVERITY): description" of each check that failed.
    failed_checks: tuple[str, ...] = ()
    failed_error_checks: int = 0
    # WhatsApp messages accepted for the organization (the demo counts them at its simulator).
    messages: int | None = None

    COLUMNS = (
        "org",
        "day",
        "fetched",
        "inserted",
        "updated",
        "unchanged",
        "cancelled",
        "quarantined",
        "checks",
        "messages",
    )

    def row(self) -> tuple:
        return (self.org_id, self.day.isoformat(), self.fetched, self.inserted, self.updated,
                self.unchanged, self.cancelled, self.quarantined,
                f"{self.checks_passed}/{self.checks_run}",
                "-" if self.messages is None else self.messages)  # fmt: skip


def dagster_instance() -> dg.DagsterInstance:
    """The DAGSTER_HOME instance when there is one (runs show in the UI), else an ephemeral one."""
    return dg.DagsterInstance.get() if dagster_home() else dg.DagsterInstance.ephemeral()


def check_against_last_run(
    instance: dg.DagsterInstance, org_id: str, day: date, check: ContentCheck
) -> ContentCheck:
    """The schedule's change check on top of the CRM's (`check_day_content`): no run is needed
    either when the ERP answers exactly the content the partition's last run processed and that
    run succeeded (its run tag; runs the daemon launched included). Its reason, naming the run,
    replaces the CRM's."""
    from recompra_pipelines.automation.erp_sync import CONTENT_HASH_TAG, last_sync_run

    if check.content_hash is None or check.confirming or instance.is_ephemeral:
        return check
    last = last_sync_run(instance, str(org_day_key(org_id, day)))
    if (
        last is None
        or last.status != dg.DagsterRunStatus.SUCCESS
        or last.tags.get(CONTENT_HASH_TAG) != check.content_hash
    ):
        return check
    return replace(
        check,
        skip_reason=f"the ERP's answer is unchanged since run {last.run_id}, which succeeded "
        f"(content {check.content_hash[:16]})",
    )


def sync_partition(
    instance: dg.DagsterInstance,
    database_url: str,
    org_id: str,
    day: date,
    content_hash: str | None = None,
) -> SyncSummary:
    """Run `erp_sync` for the org x day in this process; `content_hash` (from the change check,
    when it asked the ERP) is recorded on the run, as the schedule records it. Once the run
    succeeded, the content its own fetch stored is recorded in the CRM (the COMPLETE_SYNC
    marker) for the next check to compare with, while staging still holds it."""
    from recompra_pipelines.automation.erp_sync import CONTENT_HASH_TAG
    from recompra_pipelines.definitions import defs

    # Only an organization of the CRM becomes a partition: a mistyped id (or `a,b`) would
    # register a partition key forever, and a thousand partitions with it.
    engine = create_crm_engine(database_url)
    try:
        with engine.connect() as conn:
            load_organization(conn, org_id)
    finally:
        engine.dispose()
    if not instance.has_dynamic_partition(ORGANIZATIONS, org_id):
        instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
    job = defs.resolve_job_def("erp_sync")
    result = job.execute_in_process(
        instance=instance,
        partition_key=org_day_key(org_id, day),
        tags={CONTENT_HASH_TAG: content_hash} if content_hash else None,
        raise_on_error=False,
        # The run's database is the one asked for, whatever RECOMPRA_DATABASE_URL says.
        resources={"crm_db": CrmDatabase(url=database_url)},
        # The console says what happened (INFO), not every step's start and output (DEBUG).
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    evaluations = result.get_asset_check_evaluations()
    failed = [e for e in evaluations if not e.passed]
    checks = {
        "checks_passed": len(evaluations) - len(failed),
        "checks_run": len(evaluations),
        "failed_checks": tuple(_check_line(e) for e in failed),
        "failed_error_checks": sum(e.severity == dg.AssetCheckSeverity.ERROR for e in failed),
    }
    if not result.success:
        return SyncSummary(
            org_id,
            day,
            False,
            0,
            0,
            0,
            0,
            0,
            0,
            error="; ".join(failure_causes(result)),
            **checks,
        )
    sales = _metadata(result, "crm_sales")
    engine = create_crm_engine(database_url)
    try:
        with engine.begin() as conn:
            mark_done(
                conn,
                org_id,
                day,
                StepMarker.COMPLETE_SYNC,
                content_hash=_metadata(result, "erp_raw_extract")["content_hash"],
            )
        with engine.connect() as conn:
            received, quarantined = staged_record_counts(conn, org_id, day)
    finally:
        engine.dispose()
    return SyncSummary(
        org_id=org_id,
        day=day,
        success=True,
        fetched=received,
        inserted=sales["inserted"],
        updated=sales["updated"],
        unchanged=sales["unchanged"],
        cancelled=sales["cancelled"],
        quarantined=quarantined,
        **checks,
    )


def _check_line(evaluation: dg.AssetCheckEvaluation) -> str:
    """A check that did not pass, on one line: "name (SEVERITY): " and its description, else
    its figures."""
    figures = ", ".join(f"{name}={value.value}" for name, value in evaluation.metadata.items())
    said = one_line(evaluation.description or "") or f"did not pass ({figures})"
    return f"{evaluation.check_name} ({evaluation.severity.value}): {said}"


def failure_causes(result: dg.ExecuteInProcessResult) -> list[str]:
    """Why the run failed, one line per cause: each failed step's innermost error (what the
    step itself raised, not Dagster's wrapper; a StepError, whose message already tells its
    cause, rather than that cause) and each failed blocking check's description."""
    causes = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE" and event.step_failure_data.error:
            error = event.step_failure_data.error
            whole_accounts = step_error_names()
            while error.cause is not None and error.cls_name not in whole_accounts:
                error = error.cause
            if error.cls_name != "DagsterAssetCheckFailedError":
                # "package.module.SyncError: ..." reads as "SyncError: ...".
                qualified, _, message = error.message.partition(": ")
                text = (
                    f"{error.cls_name}: {message}"
                    if qualified.endswith(error.cls_name)
                    else error.message
                )
                causes.append(f"{event.step_key}: {one_line(text)}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                description = one_line(evaluation.description or "")
                causes.append(f"{evaluation.check_name}: {description or 'failed'}")
    return causes or ["the run failed without a step error (see the run in Dagster)"]


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    materialization = result.asset_materializations_for_node(node)[0]
    return {key: value.value for key, value in materialization.metadata.items()}


def format_table(rows: list[tuple], columns: tuple[str, ...]) -> str:
    cells = [tuple(str(c) for c in columns)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(
            cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
