"""Retention of the CRM's copies of what the ERPs and WhatsApp sent: the daily `erp_retention`
maintenance asset (what goes and what always stays: `db.retention`)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.db.retention import apply_retention
from recompra_pipelines.partitions import DAY_TIMEZONE
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.settings import RecompraSettings


@dg.asset(
    group_name=AssetGroup.MAINTENANCE.value,
    # It reads (and prunes) every partition's raw extracts and quarantined records.
    deps=["erp_raw_extract", "erp_normalized_sales"],
    kinds={"postgres"},
)
def erp_retention(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase, settings: RecompraSettings
) -> dg.MaterializeResult:
    """Deletes raw ERP extracts older than RECOMPRA_RETENTION_RAW_EXTRACT_DAYS (90) by business
    day, except the extract each org x day's staging was built from; quarantined records last
    seen more than RECOMPRA_RETENTION_QUARANTINE_DAYS (180) ago; catalog answers last captured
    more than RECOMPRA_RETENTION_CATALOG_EXTRACT_DAYS (90) ago, except each organization's
    latest; WhatsApp webhook bodies (with their events) received more than
    RECOMPRA_RETENTION_WEBHOOK_DAYS (90) ago, except those with an event not yet applied.

    Dagster's own history (runs, materializations, partition status) is untouched: a day whose
    superseded extracts are gone still shows as materialized, and re-running it calls the ERP.
    """
    policy = settings.retention_policy()
    now = datetime.now(UTC)
    cutoffs = policy.cutoffs(now, now.astimezone(ZoneInfo(DAY_TIMEZONE)).date())
    counts = apply_retention(crm_db.engine, cutoffs)
    context.log.info(
        f"retention: {counts.raw_extracts_deleted} raw extract(s) of days before "
        f"{cutoffs.extract_day}, {counts.quarantine_deleted} quarantined record(s), "
        f"{counts.catalog_extracts_deleted} catalog answer(s) and {counts.webhooks_deleted} "
        f"webhook bod(ies) with {counts.webhook_events_deleted} event(s) deleted"
    )
    return dg.MaterializeResult(
        metadata={
            "raw_extract_days": dg.MetadataValue.int(policy.raw_extract_days),
            "quarantine_days": dg.MetadataValue.int(policy.quarantine_days),
            "catalog_extract_days": dg.MetadataValue.int(policy.catalog_extract_days),
            "webhook_days": dg.MetadataValue.int(policy.webhook_days),
            "raw_extract_day_cutoff": cutoffs.extract_day.isoformat(),
            "raw_extracts_deleted": dg.MetadataValue.int(counts.raw_extracts_deleted),
            "raw_extract_bytes_deleted": dg.MetadataValue.int(counts.raw_extract_bytes_deleted),
            "quarantine_deleted": dg.MetadataValue.int(counts.quarantine_deleted),
            "catalog_extracts_deleted": dg.MetadataValue.int(counts.catalog_extracts_deleted),
            "catalog_extract_bytes_deleted": dg.MetadataValue.int(
                counts.catalog_extract_bytes_deleted
            ),
            "webhooks_deleted": dg.MetadataValue.int(counts.webhooks_deleted),
            "webhook_events_deleted": dg.MetadataValue.int(counts.webhook_events_deleted),
        }
    )
