"""Alerts on campaign interactions and attribution of one org x day."""

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase

# An immediate interaction still unsent this long after creation deserves a look.
IMMEDIATE_SEND_THRESHOLD_MINUTES = 30


def _scalar(crm_db: CrmDatabase, sql: str, **params) -> int:
    with crm_db.engine.connect() as conn:
        return conn.scalar(sa.text(sql), params)


@dg.asset_check(asset="campaign_interactions", partitions_def=org_day_partitions)
def interactions_unique_per_trigger(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """No sale revision triggered the same campaign twice for a client."""
    part = org_day_of(context)
    duplicates = _scalar(
        crm_db,
        """SELECT count(*) FROM (SELECT 1 FROM interactions i JOIN sales s ON s.id = i.venda_id
           WHERE i.organizacao_id = :org AND s.data_referencia = :day
           GROUP BY i.campanha_id, i.cliente_id, i.venda_id, i.chave_idempotencia HAVING count(*) > 1) d""",
        org=part.org_id,
        day=part.day,
    )
    return dg.AssetCheckResult(
        passed=duplicates == 0, metadata={"duplicates": dg.MetadataValue.int(duplicates)}
    )


@dg.asset_check(asset="campaign_interactions", partitions_def=org_day_partitions)
def immediate_interactions_sent(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """WARN when immediate interactions of the day are still unsent 30 minutes after creation."""
    part = org_day_of(context)
    late = _scalar(
        crm_db,
        """SELECT count(*) FROM interactions i JOIN sales s ON s.id = i.venda_id
           WHERE i.organizacao_id = :org AND s.data_referencia = :day
             AND i.agendamento_bloco_referencia IS NULL AND i.status_envio IN ('PENDENTE', 'ENVIANDO')
             AND i.data_insercao < now() - make_interval(mins => :minutes)""",
        org=part.org_id,
        day=part.day,
        minutes=IMMEDIATE_SEND_THRESHOLD_MINUTES,
    )
    return dg.AssetCheckResult(
        passed=late == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"late_immediate": dg.MetadataValue.int(late)},
    )


@dg.asset_check(asset="sale_attribution", partitions_def=org_day_partitions)
def conversions_point_at_valid_sales(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """No conversion credits a cancelled or invalid sale (ERROR)."""
    part = org_day_of(context)
    bad = _scalar(
        crm_db,
        """SELECT count(*) FROM campaign_conversions cc JOIN sales s ON s.id = cc.venda_id
           WHERE cc.organizacao_id = :org AND s.data_referencia = :day AND NOT s.valida""",
        org=part.org_id,
        day=part.day,
    )
    return dg.AssetCheckResult(
        passed=bad == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"conversions_on_invalid_sales": dg.MetadataValue.int(bad)},
    )


CAMPAIGN_CHECKS = [
    interactions_unique_per_trigger,
    immediate_interactions_sent,
    conversions_point_at_valid_sales,
]
