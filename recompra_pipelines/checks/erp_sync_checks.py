"""Data-quality alerts on the ERP sync of one org x day (they page someone when they fail)."""

import dagster as dg

from recompra_pipelines.checks.queries import counts_metadata, selected
from recompra_pipelines.connectors.registry import connector_for
from recompra_pipelines.db.check_counts import sync_day_counts
from recompra_pipelines.db.extracts import latest_extract, staged_extract_hash
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.steps import ExtractReading, read_extract

# Above this share of quarantined records the ERP (or our parser) has a problem worth a look.
QUARANTINE_RATE_WARN = 0.05
# A sale's value and what its lines explain may differ by rounding; beyond this is a data issue.
SALE_TOTAL_TOLERANCE = "0.05"


@dg.asset_check(asset="erp_raw_extract", partitions_def=org_day_partitions, blocking=True)
def erp_raw_extract_is_readable(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """The latest response is a list of sales. If not, the sync stops here (ERROR); the raw
    response stays in erp_raw_extracts for inspection and no CRM row changes."""
    part = org_day_of(context)
    with crm_db.engine.connect() as conn:
        extract = latest_extract(conn, part.org_id, part.day, with_text=False)
        if extract is None:
            return dg.AssetCheckResult(passed=False, metadata={"reason": "no extract stored"})
        if staged_extract_hash(conn, part.org_id, part.day) == extract.content_hash:
            return dg.AssetCheckResult(passed=True, metadata={"records": "already staged"})
        reading = ExtractReading(extract.records, extract.read_error)
        if reading.records is None and reading.error is None:  # stored before it was read
            extract = latest_extract(conn, part.org_id, part.day)
            reading = read_extract(connector_for(extract.integration_type), extract.text)
    if reading.error is not None:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"ERP payload cannot be read: {reading.error}",
            metadata={"raw_extract_id": str(extract.id)},
        )
    return dg.AssetCheckResult(
        passed=True, metadata={"records": dg.MetadataValue.int(reading.records)}
    )


QUARANTINE_RATE = dg.AssetCheckSpec(
    "erp_quarantine_rate",
    asset="erp_normalized_sales",
    partitions_def=org_day_partitions,
    description="WARN when more than 5 % of the day's records were quarantined.",
)
SALES_MATCH_STAGING = dg.AssetCheckSpec(
    "crm_sales_match_staging",
    asset="crm_sales",
    partitions_def=org_day_partitions,
    description="ERROR unless every staged sale and item is in the CRM with the same content.",
)
SALE_TOTALS = dg.AssetCheckSpec(
    "crm_sale_totals_match_items",
    asset="crm_sales",
    partitions_def=org_day_partitions,
    description="WARN when a valid sale's value differs by more than R$ 0,05 from what its "
    "lines explain: items' net total, minus order discounts, plus delivery, service and "
    "additional fees.",
)
BUYER_TOTALS = dg.AssetCheckSpec(
    "crm_buyers_totals_match_sales",
    asset="crm_sales",
    partitions_def=org_day_partitions,
    description="ERROR when a buyer of the day has a purchase count or total that differs from "
    "their valid sales (the campaign triggers read these totals).",
)


@dg.multi_asset_check(
    specs=[QUARANTINE_RATE, SALES_MATCH_STAGING, SALE_TOTALS, BUYER_TOTALS], can_subset=True
)
def erp_day_checks(context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase):
    """The day's staging and sales: quarantine rate, staged = loaded, sale values explained by
    their lines, buyers' purchase totals. One step and one query for the four of them."""
    part = org_day_of(context)
    with crm_db.engine.connect() as conn:
        row = sync_day_counts(conn, part.org_id, part.day, tolerance=SALE_TOTAL_TOLERANCE)
    received, quarantined = row.received or 0, row.quarantined or 0
    rate = quarantined / received if received else 0.0
    results = [
        (
            QUARANTINE_RATE,
            dg.AssetCheckResult(
                passed=rate <= QUARANTINE_RATE_WARN,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    **counts_metadata({"received": received, "quarantined": quarantined}),
                    "quarantine_rate": dg.MetadataValue.float(round(rate, 4)),
                },
            ),
        ),
        (
            SALES_MATCH_STAGING,
            dg.AssetCheckResult(
                passed=row.staged_sales == row.loaded_sales
                and row.staged_items == row.loaded_items,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=counts_metadata(
                    {
                        "staged_sales": row.staged_sales,
                        "loaded_sales": row.loaded_sales,
                        "staged_items": row.staged_items,
                        "loaded_items": row.loaded_items,
                    }
                ),
            ),
        ),
        (
            SALE_TOTALS,
            dg.AssetCheckResult(
                passed=row.outside_tolerance == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=counts_metadata(
                    {
                        "sales_checked": row.sales_checked,
                        "outside_tolerance": row.outside_tolerance,
                        "largest_difference_centavos": row.largest_difference_centavos,
                    }
                ),
            ),
        ),
        (
            BUYER_TOTALS,
            dg.AssetCheckResult(
                passed=row.buyers_with_wrong_totals == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=counts_metadata(
                    {"buyers": row.buyers, "buyers_with_wrong_totals": row.buyers_with_wrong_totals}
                ),
            ),
        ),
    ]
    yield from selected(context, results)


SYNC_CHECKS = [erp_raw_extract_is_readable, erp_day_checks]
