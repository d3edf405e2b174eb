"""Data-quality alerts on the ERP sync of one org x day (they page someone when they fail)."""

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.connectors.errors import ErpPayloadError
from recompra_pipelines.connectors.registry import connector_for
from recompra_pipelines.db.extracts import latest_extract, staged_extract_hash
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.allocation import collector_paused

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
        extract = latest_extract(conn, part.org_id, part.day)
    try:
        with collector_paused():
            records = connector_for(extract.integration_type).records(extract.text)
    except ErpPayloadError as error:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"ERP payload cannot be read: {error}",
            metadata={"raw_extract_id": str(extract.id)},
        )
    return dg.AssetCheckResult(
        passed=True, metadata={"records": dg.MetadataValue.int(len(records))}
    )


@dg.asset_check(asset="erp_normalized_sales", partitions_def=org_day_partitions)
def erp_quarantine_rate(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """WARN when more than 5 % of the day's records were quarantined."""
    part = org_day_of(context)
    with crm_db.engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT registros_recebidos, registros_quarentena FROM erp_staging_extracts "
                "WHERE organizacao_id = :org AND data_referencia = :day"
            ),
            {"org": part.org_id, "day": part.day},
        ).one()
    rate = row.registros_quarentena / row.registros_recebidos if row.registros_recebidos else 0.0
    return dg.AssetCheckResult(
        passed=rate <= QUARANTINE_RATE_WARN,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "received": dg.MetadataValue.int(row.registros_recebidos),
            "quarantined": dg.MetadataValue.int(row.registros_quarentena),
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
    part = org_day_of(context)
    queries = {
        "duplicate_sales": """
            SELECT count(*) FROM (SELECT 1 FROM sales WHERE organizacao_id = :org AND data_referencia = :day
            GROUP BY integracao_tipo, id_externo HAVING count(*) > 1) d""",
        "duplicate_items": """
            SELECT count(*) FROM (SELECT 1 FROM sale_items i JOIN sales s ON s.id = i.venda_id
            WHERE s.organizacao_id = :org AND s.data_referencia = :day
            GROUP BY i.venda_id, i.linha HAVING count(*) > 1) d""",
        # Organization-wide: the unique indexes make these index-only scans.
        "duplicate_client_phones": """
            SELECT count(*) FROM (SELECT 1 FROM clients WHERE organizacao_id = :org
            AND telefone_base IS NOT NULL GROUP BY telefone_base HAVING count(*) > 1) d""",
        "duplicate_products": """
            SELECT count(*) FROM (SELECT 1 FROM products WHERE organizacao_id = :org
            GROUP BY codigo HAVING count(*) > 1) d""",
    }
    with crm_db.engine.connect() as conn:
        counts = {
            name: conn.scalar(sa.text(sql), {"org": part.org_id, "day": part.day})
            for name, sql in queries.items()
        }
    return dg.AssetCheckResult(
        passed=not any(counts.values()),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={name: dg.MetadataValue.int(value) for name, value in counts.items()},
    )


@dg.asset_check(asset="crm_sales", partitions_def=org_day_partitions)
def crm_sales_match_staging(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """Every staged sale and item is in the CRM with the same content (staged = loaded)."""
    part = org_day_of(context)
    with crm_db.engine.connect() as conn:
        row = conn.execute(
            sa.text(
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
                """
            ),
            {"org": part.org_id, "day": part.day},
        ).one()
    counts = dict(row._mapping)
    return dg.AssetCheckResult(
        passed=counts["staged_sales"] == counts["loaded_sales"]
        and counts["staged_items"] == counts["loaded_items"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={name: dg.MetadataValue.int(value) for name, value in counts.items()},
    )


@dg.asset_check(asset="crm_sales", partitions_def=org_day_partitions)
def crm_sale_totals_match_items(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """WARN when valid sales' values differ from their items' net total by more than R$ 0,05."""
    part = org_day_of(context)
    with crm_db.engine.connect() as conn:
        row = conn.execute(
            sa.text(
                """
                SELECT count(*) AS sales_checked,
                       count(*) FILTER (WHERE abs(valor_total - itens_valor_liquido) > CAST(:tolerance AS numeric)) AS outside_tolerance,
                       COALESCE(max(abs(valor_total - itens_valor_liquido)), 0) AS largest_difference
                FROM erp_staging_sales
                WHERE organizacao_id = :org AND data_referencia = :day AND valida
                """
            ),
            {"org": part.org_id, "day": part.day, "tolerance": SALE_TOTAL_TOLERANCE},
        ).one()
    return dg.AssetCheckResult(
        passed=row.outside_tolerance == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "sales_checked": dg.MetadataValue.int(row.sales_checked),
            "outside_tolerance": dg.MetadataValue.int(row.outside_tolerance),
            "largest_difference_centavos": dg.MetadataValue.int(int(row.largest_difference * 100)),
        },
    )


SYNC_CHECKS = [
    erp_raw_extract_is_readable,
    erp_quarantine_rate,
    crm_sales_no_duplicate_keys,
    crm_sales_match_staging,
    crm_sale_totals_match_items,
]
