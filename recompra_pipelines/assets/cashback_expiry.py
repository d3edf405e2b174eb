"""Daily cashback expiry per organization (group `cashback`, job `cashback_daily`)."""

import dagster as dg

from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.assets.cashback import centavos
from recompra_pipelines.partitions import (
    EVERY_EARLIER_DAY,
    org_day_of,
    org_day_partitions,
    same_org_days,
)
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.ledger_steps import expire_day_cashback


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.CASHBACK.value,
    # The lots due on a day were accrued by the ledger step of any earlier day.
    deps=[dg.AssetDep("cashback_ledger", partition_mapping=same_org_days(-EVERY_EARLIER_DAY, -1))],
    kinds={"postgres"},
)
def cashback_expiry(context: dg.AssetExecutionContext, crm_db: CrmDatabase) -> dg.MaterializeResult:
    """Writes off the lots due on the partition's organization-local day.

    One EXPIRAÇÃO entry per due lot, for exactly what is left of it and linked to it (key
    `expiracao:<lot>`): re-running a day, or backfilling a range of days, expires nothing
    twice. Lots expire at the start of the local day their validity ends (counted from the
    sale's date), so the partition of day D writes off every lot with `expiracao_data` up to
    D's local midnight that is still active.
    """
    part = org_day_of(context)
    counts = expire_day_cashback(crm_db.engine, part.org_id, part.day)
    return dg.MaterializeResult(
        metadata={
            "expired_lots": dg.MetadataValue.int(counts.expired_lots),
            "clients": dg.MetadataValue.int(counts.clients),
            "expired_centavos": centavos(counts.expired),
        }
    )
