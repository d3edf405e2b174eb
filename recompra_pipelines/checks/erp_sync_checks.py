"""Data-quality alerts on the ERP sync of one org x day (they page someone when they fail)."""

import dagster as dg

from recompra_pipelines.checks.queries import counts_metadata, partition_row
from recompra_pipelines.connectors.registry import connector_for
from recompra_pipelines.db.extracts import latest_extract, staged_extract_hash
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.steps import ExtractReading, read_extract

# Above this share of quarantined records the ERP (or our parser) has a problem worth a look.
QUARANTINE_RATE_WARN = 0.05
# A sale's value and its items' net total may differ by rounding; beyond this is a data issue.
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


@dg.asset_check(asset="erp_normalized_sales", partitions_def=org_day_partitions)
def erp_quarantine_rate(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """WARN when more than 5 % of the day's records were quarantined."""
    row = partition_row(
        context,
        crm_db,
        "SELECT registros_recebidos AS received, registros_quarentena AS quarantined"
        " FROM erp_staging_extracts WHERE organizacao_id = :org AND data_referencia = :day",
    )
    rate = row.quarantined / row.received if row.received else 0.0
    return dg.AssetCheckResult(
        passed=rate <= QUARANTINE_RATE_WARN,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **counts_metadata(row._mapping),
            "quarantine_rate": dg.MetadataValue.float(round(rate, 4)),
        },
    )


@dg.asset_check(asset="crm_sales", partitions_def=org_day_partitions)
def crm_sales_no_duplicate_keys(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """No natural key is stored twice: the day's sales by ERP id and items by line, the
    organization's clients by phone and products by code (the unique constraints make this a
    tripwire for schema drift)."""
    row = partition_row(
        context,
        crm_db,
        """
        SELECT
          (SELECT count(*) FROM (SELECT 1 FROM sales WHERE organizacao_id = :org AND data_referencia = :day
           GROUP BY integracao_tipo, id_externo HAVING count(*) > 1) d) AS duplicate_sales,
          (SELECT count(*) FROM (SELECT 1 FROM sale_items i JOIN sales s ON s.id = i.venda_id
           WHERE s.organizacao_id = :org AND s.data_referencia = :day
           GROUP BY i.venda_id, i.linha HAVING count(*) > 1) d) AS duplicate_items,
          -- Organization-wide: the unique indexes make these index-only scans.
          (SELECT count(*) FROM (SELECT 1 FROM clients WHERE organizacao_id = :org
           AND telefone_base IS NOT NULL GROUP BY telefone_base HAVING count(*) > 1) d)
             AS duplicate_client_phones,
          (SELECT count(*) FROM (SELECT 1 FROM products WHERE organizacao_id = :org
           GROUP BY codigo HAVING count(*) > 1) d) AS duplicate_products
        """,
    )
    return dg.AssetCheckResult(
        passed=not any(row),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=counts_metadata(row._mapping),
    )


@dg.asset_check(asset="crm_sales", partitions_def=org_day_partitions)
def crm_sales_match_staging(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """Every staged sale and item is in the CRM with the same content (staged = loaded)."""
    row = partition_row(
        context,
        crm_db,
        """
        SELECT
          (SELECT count(*) FROM erp_staging_sales WHERE organizacao_id = :org AND data_referencia = :day) AS staged_sales,
          (SELECT count(*) FROM erp_staging_sales st JOIN sales s
             ON s.organizacao_id = st.organizacao_id AND s.integracao_tipo = st.integracao_tipo
            AND s.id_externo = st.id_externo AND s.hash_conteudo = st.hash_conteudo
           WHERE st.organizacao_id = :org AND st.data_referencia = :day) AS loaded_sales,
          (SELECT COALESCE(sum(json_array_length(itens)), 0) FROM erp_staging_sales WHERE organizacao_id = :org AND data_referencia = :day) AS staged_items,
          (SELECT count(*) FROM erp_staging_sales st JOIN sales s
             ON s.organizacao_id = st.organizacao_id AND s.integracao_tipo = st.integracao_tipo
            AND s.id_externo = st.id_externo
           JOIN sale_items i ON i.venda_id = s.id
           WHERE st.organizacao_id = :org AND st.data_referencia = :day) AS loaded_items
        """,
    )
    return dg.AssetCheckResult(
        passed=row.staged_sales == row.loaded_sales and row.staged_items == row.loaded_items,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=counts_metadata(row._mapping),
    )


@dg.asset_check(asset="crm_sales", partitions_def=org_day_partitions)
def crm_sale_totals_match_items(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """WARN when valid sales' values differ from their items' net total by more than R$ 0,05."""
    row = partition_row(
        context,
        crm_db,
        """
        SELECT count(*) AS sales_checked,
               count(*) FILTER (WHERE abs(valor_total - itens_valor_liquido) > CAST(:tolerance AS numeric)) AS outside_tolerance,
               COALESCE(max(abs(valor_total - itens_valor_liquido)), 0) * 100 AS largest_difference_centavos
        FROM erp_staging_sales
        WHERE organizacao_id = :org AND data_referencia = :day AND valida
        """,
        tolerance=SALE_TOTAL_TOLERANCE,
    )
    return dg.AssetCheckResult(
        passed=row.outside_tolerance == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=counts_metadata(row._mapping),
    )


SYNC_CHECKS = [
    erp_raw_extract_is_readable,
    erp_quarantine_rate,
    crm_sales_no_duplicate_keys,
    crm_sales_match_staging,
    crm_sale_totals_match_items,
]
