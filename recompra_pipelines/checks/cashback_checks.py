"""Ledger alerts, attached to both assets that write the ledger (sync step and expiry).

They audit the whole organization's ledger (set-based, a handful of aggregates), because a
balance that drifted on another day is just as wrong today.
"""

import dagster as dg

from recompra_pipelines.db.ledger_audit import audit_ledger
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase

LEDGER_ASSETS = ("cashback_ledger", "cashback_expiry")


def _audit(context, crm_db: CrmDatabase):
    with crm_db.engine.connect() as conn:
        return audit_ledger(conn, org_day_of(context).org_id)


def _balances_match_entries(asset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset, name="cashback_balances_match_entries", partitions_def=org_day_partitions
    )
    def check(context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase) -> dg.AssetCheckResult:
        """ERROR when any client's available balance differs from its entries' sum or from the
        remaining value of its active lots (net of claw-back debt), when lifetime totals differ
        from their entries, or when a lot's remainder disagrees with its allocations."""
        audit = _audit(context, crm_db)
        return dg.AssetCheckResult(
            passed=audit.balance_mismatches == 0 and audit.lot_mismatches == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "balance_mismatches": dg.MetadataValue.int(audit.balance_mismatches),
                "lot_mismatches": dg.MetadataValue.int(audit.lot_mismatches),
            },
        )

    return check


def _negative_balances(asset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset, name="cashback_negative_balances", partitions_def=org_day_partitions
    )
    def check(context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase) -> dg.AssetCheckResult:
        """WARN on negative balances, unless the program claws redeemed cashback back
        (policy SALDO-NEGATIVO), where a negative balance is an expected debt."""
        audit = _audit(context, crm_db)
        return dg.AssetCheckResult(
            passed=audit.negative_balances_not_allowed == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "negative_balances": dg.MetadataValue.int(audit.negative_balances),
                "not_allowed": dg.MetadataValue.int(audit.negative_balances_not_allowed),
            },
        )

    return check


def _cancelled_sales_reversed(asset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset, name="cashback_cancelled_sales_reversed", partitions_def=org_day_partitions
    )
    def check(context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase) -> dg.AssetCheckResult:
        """ERROR when an accrual of a cancelled sale is still active or was never reversed."""
        audit = _audit(context, crm_db)
        return dg.AssetCheckResult(
            passed=audit.active_accruals_of_cancelled_sales == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "active_accruals_of_cancelled_sales": dg.MetadataValue.int(
                    audit.active_accruals_of_cancelled_sales
                )
            },
        )

    return check


def _edited_sales_redecided(asset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset, name="cashback_edited_sales_redecided", partitions_def=org_day_partitions
    )
    def check(context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase) -> dg.AssetCheckResult:
        """ERROR when a sale's cashback was decided on a value the ERP has since edited and was
        not decided again (the sale stored at its new value, the credit at the old one)."""
        audit = _audit(context, crm_db)
        return dg.AssetCheckResult(
            passed=audit.live_accruals_of_edited_sales == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "live_accruals_of_edited_sales": dg.MetadataValue.int(
                    audit.live_accruals_of_edited_sales
                )
            },
        )

    return check


CASHBACK_CHECKS = [
    factory(asset)
    for asset in LEDGER_ASSETS
    for factory in (
        _balances_match_entries,
        _negative_balances,
        _cancelled_sales_reversed,
        _edited_sales_redecided,
    )
]
