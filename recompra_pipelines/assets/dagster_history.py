"""Retention of Dagster's own history: the daily `dagster_history_retention` maintenance asset."""

from datetime import UTC, datetime

import dagster as dg

from recompra_pipelines.asset_groups import SYNC_GRAPH_ASSETS, AssetGroup
from recompra_pipelines.resources.dagster_history import (
    DagsterHistoryRetention,
    prune_dagster_history,
)


@dg.asset(
    group_name=AssetGroup.MAINTENANCE.value,
    # It reads the materialization history of the org x day assets (each partition's latest
    # materialization is what it must keep) and trims the runs behind it.
    deps=[*SYNC_GRAPH_ASSETS, "cashback_expiry", "rfm_analysis", "lifecycle_campaigns"],
    kinds={"postgres"},
)
def dagster_history_retention(
    context: dg.AssetExecutionContext, dagster_history: DagsterHistoryRetention
) -> dg.MaterializeResult:
    """Deletes Dagster's finished runs (with their events, tags and check executions) past
    the age or count limit of the `dagster_history` resource (RECOMPRA_RETENTION_DAGSTER_*),
    and schedule and sensor ticks past theirs; the limits used are in the metadata.

    Queued and running runs, the runs of a backfill in progress and every run holding an
    asset partition's latest materialization are kept, so partition status, "latest
    materialization" and "backfill missing" stay exactly as they were.
    """
    limits = dagster_history.limits()
    cutoffs = limits.cutoffs(datetime.now(UTC))
    counts = prune_dagster_history(context.instance, cutoffs)
    context.log.info(
        f"Dagster history: {counts.runs_deleted} run(s) finished before "
        f"{cutoffs.runs_finished_before:%Y-%m-%d %H:%M} UTC or past the newest "
        f"{cutoffs.max_runs or 'unlimited'} deleted ({counts.event_rows_deleted} event rows), "
        f"{counts.runs_kept_for_partition_status} kept for their partitions' latest "
        f"materialization; {counts.ticks_deleted} tick(s) deleted"
    )
    return dg.MaterializeResult(
        metadata={
            "run_days": dg.MetadataValue.int(limits.run_days),
            "max_runs": dg.MetadataValue.int(limits.max_runs),
            "tick_days": dg.MetadataValue.int(limits.tick_days),
            "max_ticks": dg.MetadataValue.int(limits.max_ticks),
            "runs_deleted": dg.MetadataValue.int(counts.runs_deleted),
            "runs_kept_for_partition_status": dg.MetadataValue.int(
                counts.runs_kept_for_partition_status
            ),
            "event_rows_deleted": dg.MetadataValue.int(counts.event_rows_deleted),
            "check_executions_deleted": dg.MetadataValue.int(counts.check_executions_deleted),
            "ticks_deleted": dg.MetadataValue.int(counts.ticks_deleted),
        }
    )
