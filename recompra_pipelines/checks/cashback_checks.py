"""Ledger alerts, attached to both assets that write the ledger (sync step and expiry).

They audit the whole organization's ledger (set-based, a handful of aggregates), because a
balance that drifted on another day is just as wrong today. The checks read the same audit,
so each asset's checks run as one step on one audit.
"""

import dagster as dg

from recompra_pipelines.checks.queries import selected
from recompra_pipelines.db.ledger_audit import audit_ledger
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase

LEDGER_ASSETS = ("cashback_ledger", "cashback_expiry")


def _ledger_audit(asset: str) -> dg.AssetChecksDefinition:
    balances = dg.AssetCheckSpec(
        "cashback_balances_match_entries",
        asset=asset,
        partitions_def=org_day_partitions,
        description="ERROR when any client's available balance differs from its entries' sum "
        "or from the remaining value of its active lots (net of claw-back debt), when lifetime "
        "totals differ from their entries, or when a lot's remainder disagrees with its "
        "allocations.",
    )
    negative = dg.AssetCheckSpec(
        "cashback_negative_balances",
        asset=asset,
        partitions_def=org_day_partitions,
        description="WARN on negative balances, unless the program claws redeemed cashback "
        "back (policy SALDO-NEGATIVO), where a negative balance is an expected debt.",
    )
    reversed_ = dg.AssetCheckSpec(
        "cashback_cancelled_sales_reversed",
        asset=asset,
        partitions_def=org_day_partitions,
        description="ERROR when an accrual of a cancelled sale is still active or was never "
        "reversed.",
    )

    redecided = dg.AssetCheckSpec(
        "cashback_edited_sales_redecided",
        asset=asset,
        partitions_def=org_day_partitions,
        description="ERROR when a sale's cashback was decided on a value the ERP has since "
        "edited and was not decided again (the sale stored at its new value, the credit at the "
        "old one).",
    )

    @dg.multi_asset_check(
        name=f"{asset}_audit",
        specs=[balances, negative, reversed_, redecided],
        can_subset=True,
    )
    def audit(context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase):
        """The organization's whole ledger, audited once for all its checks."""
        with crm_db.engine.connect() as conn:
            found = audit_ledger(conn, org_day_of(context).org_id)
        results = [
            (
                balances,
                dg.AssetCheckResult(
                    passed=found.balance_mismatches == 0 and found.lot_mismatches == 0,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "balance_mismatches": dg.MetadataValue.int(found.balance_mismatches),
                        "lot_mismatches": dg.MetadataValue.int(found.lot_mismatches),
                    },
                ),
            ),
            (
                negative,
                dg.AssetCheckResult(
                    passed=found.negative_balances_not_allowed == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "negative_balances": dg.MetadataValue.int(found.negative_balances),
                        "not_allowed": dg.MetadataValue.int(found.negative_balances_not_allowed),
                    },
                ),
            ),
            (
                reversed_,
                dg.AssetCheckResult(
                    passed=found.active_accruals_of_cancelled_sales == 0,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "active_accruals_of_cancelled_sales": dg.MetadataValue.int(
                            found.active_accruals_of_cancelled_sales
                        )
                    },
                ),
            ),
            (
                redecided,
                dg.AssetCheckResult(
                    passed=found.live_accruals_of_edited_sales == 0,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "live_accruals_of_edited_sales": dg.MetadataValue.int(
                            found.live_accruals_of_edited_sales
                        )
                    },
                ),
            ),
        ]
        yield from selected(context, results)

    return audit


CASHBACK_CHECKS = [_ledger_audit(asset) for asset in LEDGER_ASSETS]
