"""The cashback ledger step of the per org x day sync graph.

Runs after `crm_sales` in the same `erp_sync` run, so every sync — the 5-minute
tick, the lookback days, a backfill — reconciles the ledger with the day's sales.
"""

import dagster as dg

from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.assets.step_inputs import require_step_input
from recompra_pipelines.domain.parsing import to_centavos
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.ledger_steps import reconcile_day_cashback
from recompra_pipelines.sync.preconditions import SyncStep


def centavos(value) -> dg.MetadataValue:
    """Money as integer centavos: exact, and still plottable across partitions."""
    return dg.MetadataValue.int(to_centavos(value))


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.CASHBACK.value,
    deps=["crm_sales"],
    kinds={"postgres"},
)
def cashback_ledger(context: dg.AssetExecutionContext, crm_db: CrmDatabase) -> dg.MaterializeResult:
    """Cashback for the day's sales: accruals for valid sales (buyer and partner), reversals
    for cancelled or removed ones, each exactly once under retries, overlapping runs and
    backfills.

    A reconciliation, not an "on insert" effect: it computes which accruals should exist
    (one per sale, revision and beneficiary, by idempotency key) and adds what is missing, and
    reverses every accrual whose sale is no longer valid. A sale whose value the ERP edited has
    its accruals decided again (`revisions`): what was already redeemed is carried onto the
    new amount, the rest written off or clawed back per the program. A re-run over unchanged
    sales writes nothing.
    """
    require_step_input(context, crm_db, SyncStep.CASHBACK)
    part = org_day_of(context)
    counts = reconcile_day_cashback(crm_db.engine, part.org_id, part.day)
    return dg.MaterializeResult(
        metadata={
            "accruals": dg.MetadataValue.int(counts.accruals),
            "partner_accruals": dg.MetadataValue.int(counts.partner_accruals),
            "reversals": dg.MetadataValue.int(counts.reversals),
            "revisions": dg.MetadataValue.int(counts.revisions),
            "balances_created": dg.MetadataValue.int(counts.balances_created),
            "accrued_centavos": centavos(counts.accrued),
            "reversed_centavos": centavos(counts.reversed),
            "written_off_centavos": centavos(counts.written_off),
        }
    )


CASHBACK_ASSETS = [cashback_ledger]
