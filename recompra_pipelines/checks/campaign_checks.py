"""Alerts on campaign interactions and attribution of one org x day."""

import dagster as dg

from recompra_pipelines.checks.queries import counts_metadata, partition_row
from recompra_pipelines.partitions import org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase

# An immediate interaction still unsent this long after creation deserves a look.
IMMEDIATE_SEND_THRESHOLD_MINUTES = 30


@dg.asset_check(asset="campaign_interactions", partitions_def=org_day_partitions)
def interactions_unique_per_trigger(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """No sale revision triggered the same campaign twice for a client."""
    row = partition_row(
        context,
        crm_db,
        """SELECT count(*) AS duplicates FROM (SELECT 1 FROM interactions i JOIN sales s ON s.id = i.venda_id
           WHERE i.organizacao_id = :org AND s.data_referencia = :day
           GROUP BY i.campanha_id, i.cliente_id, i.venda_id, i.chave_idempotencia HAVING count(*) > 1) d""",
    )
    return dg.AssetCheckResult(passed=row.duplicates == 0, metadata=counts_metadata(row._mapping))


@dg.asset_check(asset="campaign_interactions", partitions_def=org_day_partitions)
def immediate_interactions_sent(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """WARN when immediate interactions of the day are still unsent 30 minutes after creation."""
    row = partition_row(
        context,
        crm_db,
        """SELECT count(*) AS late_immediate FROM interactions i JOIN sales s ON s.id = i.venda_id
           WHERE i.organizacao_id = :org AND s.data_referencia = :day
             AND i.agendamento_bloco_referencia IS NULL AND i.status_envio IN ('PENDENTE', 'ENVIANDO')
             AND i.data_insercao < now() - make_interval(mins => :minutes)""",
        minutes=IMMEDIATE_SEND_THRESHOLD_MINUTES,
    )
    return dg.AssetCheckResult(
        passed=row.late_immediate == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=counts_metadata(row._mapping),
    )


@dg.asset_check(asset="sale_attribution", partitions_def=org_day_partitions)
def conversions_point_at_valid_sales(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """No conversion credits a cancelled or invalid sale (ERROR)."""
    row = partition_row(
        context,
        crm_db,
        """SELECT count(*) AS conversions_on_invalid_sales FROM campaign_conversions cc
           JOIN sales s ON s.id = cc.venda_id
           WHERE cc.organizacao_id = :org AND s.data_referencia = :day AND NOT s.valida""",
    )
    return dg.AssetCheckResult(
        passed=row.conversions_on_invalid_sales == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=counts_metadata(row._mapping),
    )


CAMPAIGN_CHECKS = [
    interactions_unique_per_trigger,
    immediate_interactions_sent,
    conversions_point_at_valid_sales,
]
