"""Campaign interactions triggered by the day's purchases, and attribution of the day's sales."""

from datetime import UTC, datetime

import dagster as dg

from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.assets.step_inputs import require_step_input
from recompra_pipelines.partitions import org_day_of, org_day_partitions, same_org_days
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync import campaign_steps
from recompra_pipelines.sync.preconditions import SyncStep


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.CAMPAIGNS.value,
    # Segmentations read the segments the latest lifecycle run stored on the clients: during
    # day D, the RFM of D - 1 (it runs once a day has ended).
    deps=[
        "cashback_ledger",
        dg.AssetDep("rfm_analysis", partition_mapping=same_org_days(-1, -1)),
    ],
    kinds={"postgres"},
)
def campaign_interactions(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase
) -> dg.MaterializeResult:
    """One interaction per (campaign, client, sale revision) for the day's valid purchases.

    Triggers (PRIMEIRA-COMPRA, NOVA-COMPRA, QUANTIDADE-TOTAL-COMPRAS, VALOR-TOTAL-COMPRAS, and
    after the ledger step CASHBACK-ACUMULADO) are
    decided from the client's whole sale history, so re-runs and backfills agree. Segmentation,
    frequency rules and the organization's daily cap apply; a skipped candidate is recorded
    with its reason. Sales before the effects start, or first seen too long after their day,
    fire nothing. A cancelled or vanished sale withdraws its own unsent interactions, and a sale
    the ERP changed withdraws those it no longer meets the trigger of (`VENDA_ALTERADA`).
    Campaign cashback is credited through the ledger, once per interaction, and follows it: a
    withdrawn interaction's is reversed, a percentage is decided again on an edited value.
    """
    require_step_input(context, crm_db, SyncStep.CAMPAIGNS)
    part = org_day_of(context)
    counts = campaign_steps.create_purchase_interactions(
        crm_db.engine, part.org_id, part.day, datetime.now(UTC)
    )
    return dg.MaterializeResult(
        metadata={name: dg.MetadataValue.int(v) for name, v in vars(counts).items()}
    )


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.CAMPAIGNS.value,
    deps=[campaign_interactions],
    kinds={"postgres"},
)
def sale_attribution(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase
) -> dg.MaterializeResult:
    """Each valid sale credited to the last message sent to its client within the campaign's
    window before the sale (`campaign_conversions`), with the conversion type and deltas from
    the client's earlier valid purchases. Never a message the sale itself triggered, nor one
    sent after the sale's best-known time; `data_conversao_precisao` (and the
    `attributed_by_*` counts) say whether that time is the ERP's, the capture's or only the
    day. A cancelled sale loses its conversion."""
    require_step_input(context, crm_db, SyncStep.ATTRIBUTION)
    part = org_day_of(context)
    counts = campaign_steps.attribute_sales(crm_db.engine, part.org_id, part.day)
    return dg.MaterializeResult(
        metadata={name: dg.MetadataValue.int(v) for name, v in vars(counts).items()}
    )


CAMPAIGN_ASSETS = [campaign_interactions, sale_attribution]
