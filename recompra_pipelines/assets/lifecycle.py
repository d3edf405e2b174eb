"""Once-a-day campaign machinery per organization x day (group `lifecycle`)."""

from datetime import UTC, datetime

import dagster as dg

from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.db.rfm import WINDOW_DAYS
from recompra_pipelines.partitions import org_day_of, org_day_partitions, same_org_days
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines.sync.lifecycle_steps import create_lifecycle_interactions, run_rfm


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.LIFECYCLE.value,
    # The valid sales of the 12 months that end with the day, the day itself included.
    deps=[dg.AssetDep("crm_sales", partition_mapping=same_org_days(1 - WINDOW_DAYS, 0))],
    kinds={"postgres"},
)
def rfm_analysis(context: dg.AssetExecutionContext, crm_db: CrmDatabase) -> dg.MaterializeResult:
    """Every client's RFM scores and segment as of the end of the partition's
    organization-local day (the schedule runs a day once it has ended).

    Valid sales of the 12 months that end with the day, the day's own included (R = 0: bought
    that day); the organization's own thresholds (`configuracao.rfm`) or quintiles; segment,
    since-when and previous segment stored on the client, with the favourite product and
    group. A client whose purchases are all older than the window is PERDIDOS; one that never
    bought is not scored (`clients` counts the scored). A day older than the last analysed
    one is superseded and changes nothing; re-running a day writes only what changed.
    """
    part = org_day_of(context)
    counts = run_rfm(crm_db.engine, part.org_id, part.day, datetime.now(UTC))
    return dg.MaterializeResult(
        metadata={
            "clients": dg.MetadataValue.int(counts.clients),
            "buyers": dg.MetadataValue.int(counts.buyers),
            "updated": dg.MetadataValue.int(counts.updated),
            "entered_segment": dg.MetadataValue.int(counts.entered_segment),
            "superseded": dg.MetadataValue.int(counts.superseded),
            "method": dg.MetadataValue.text(counts.method),
            **{
                f"segment {name}": dg.MetadataValue.int(n)
                for name, n in sorted(counts.by_segment.items())
            },
        }
    )


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.LIFECYCLE.value,
    # Segments of the day's analysis; CASHBACK-EXPIRANDO reads the lots left by the expiry
    # runs before it: the day's own and the next morning's (it runs once the day has ended).
    deps=[rfm_analysis, dg.AssetDep("cashback_expiry", partition_mapping=same_org_days(0, 1))],
    kinds={"postgres"},
)
def lifecycle_campaigns(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase, settings: RecompraSettings
) -> dg.MaterializeResult:
    """The campaigns of the night that closes the day: ENTRADA/PERMANÊNCIA-SEGMENTAÇÃO of the
    day's RFM, and CASHBACK-EXPIRANDO, ANIVERSARIO_CLIENTE and RECORRENTE of the morning
    after (when the run goes out), through the purchase triggers' creation path (same keys,
    frequency rules, daily cap and outbox); re-running a day creates nothing new."""
    part = org_day_of(context)
    counts = create_lifecycle_interactions(
        crm_db.engine,
        part.org_id,
        part.day,
        datetime.now(UTC),
        hour=settings.lifecycle_local_hour(),
    )
    return dg.MaterializeResult(
        metadata={
            "interactions_created": dg.MetadataValue.int(counts.interactions_created),
            "skipped_frequency": dg.MetadataValue.int(counts.skipped_frequency),
            "skipped_daily_cap": dg.MetadataValue.int(counts.skipped_daily_cap),
            "skipped_consent": dg.MetadataValue.int(counts.skipped_consent),
            "cashback_grants": dg.MetadataValue.int(counts.cashback_grants),
            **{
                f"candidates {trigger}": dg.MetadataValue.int(n)
                for trigger, n in sorted(counts.candidates.items())
            },
        }
    )


LIFECYCLE_ASSETS = [rfm_analysis, lifecycle_campaigns]
