"""Alerts on the WhatsApp outbox of the partition's organization (stuck, late, failing)."""

import dagster as dg

from recompra_pipelines.checks.queries import counts_metadata, partition_row
from recompra_pipelines.messaging.outbox import DUE_AT, HAS_TEMPLATE, UNKNOWN_RESULT
from recompra_pipelines.partitions import org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase

ASSET = "whatsapp_immediate_dispatch"
# A claim older than this without an answer recorded is a crashed or hung dispatcher.
STUCK_AFTER_MINUTES = 10
# A send whose answer was lost is resolved by its status webhook (biz_opaque_callback_data),
# which Meta posts within seconds of accepting a message; past this, no status is coming.
UNKNOWN_RESOLUTION_MINUTES = 15
# Due messages still unsent after this long mean the dispatcher is not keeping up.
UNSENT_AFTER_MINUTES = 30
FAILURE_RATE_WARN = 0.2
FAILURE_RATE_MIN_SENDS = 10


@dg.asset_check(asset=ASSET, partitions_def=org_day_partitions)
def whatsapp_no_stuck_sends(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """No interaction is left in ENVIANDO: a send whose answer was lost and that no
    status webhook resolved within 15 minutes, or a claim with no answer recorded (a crashed
    dispatcher). Either may or may not have reached the client and is never re-sent
    automatically: look it up in Meta's message history (biz_opaque_callback_data = the
    interaction id), then set its status by hand. Lost answers still within the 15 minutes are
    counted as ``awaiting_status`` and do not fail the check."""
    row = partition_row(
        context,
        crm_db,
        f"""SELECT count(*) FILTER (WHERE erro_codigo = '{UNKNOWN_RESULT}'
                                    AND data_envio < now() - make_interval(mins => :resolution))
                   AS unknown_result,
               count(*) FILTER (WHERE erro_codigo = '{UNKNOWN_RESULT}'
                                    AND data_envio >= now() - make_interval(mins => :resolution))
                   AS awaiting_status,
               count(*) FILTER (WHERE erro_codigo IS DISTINCT FROM '{UNKNOWN_RESULT}')
                   AS stale_claims
        FROM interactions WHERE organizacao_id = :org AND status_envio = 'ENVIANDO'
          AND (erro_codigo = '{UNKNOWN_RESULT}'
               OR envio_reservado_data < now() - make_interval(mins => :minutes))""",
        minutes=STUCK_AFTER_MINUTES,
        resolution=UNKNOWN_RESOLUTION_MINUTES,
    )
    return dg.AssetCheckResult(
        passed=row.unknown_result + row.stale_claims == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=counts_metadata(row._mapping),
    )


@dg.asset_check(asset=ASSET, partitions_def=org_day_partitions)
def whatsapp_due_messages_sent(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """WARN when messages due more than 30 minutes ago are still waiting."""
    row = partition_row(
        context,
        crm_db,
        f"""SELECT count(*) AS overdue FROM interactions i JOIN organizations o
            ON o.id = i.organizacao_id
        WHERE i.organizacao_id = :org AND i.status_envio = 'PENDENTE'
          AND i.tipo = 'ENVIO-MENSAGEM' AND {HAS_TEMPLATE}
          AND {DUE_AT} < now() - make_interval(mins => :minutes)""",
        minutes=UNSENT_AFTER_MINUTES,
    )
    return dg.AssetCheckResult(
        passed=row.overdue == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=counts_metadata(row._mapping),
    )


@dg.asset_check(asset=ASSET, partitions_def=org_day_partitions)
def whatsapp_failure_rate(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """WARN when over 20 % of the last 24 h's send attempts failed (at least 10 attempts)."""
    row = partition_row(
        context,
        crm_db,
        """SELECT count(*) FILTER (WHERE status_envio = 'FALHOU') AS failed,
                  count(*) AS finished
        FROM interactions WHERE organizacao_id = :org
          AND status_envio IN ('ENVIADO', 'ENTREGUE', 'LIDO', 'FALHOU')
          AND data_atualizacao >= now() - interval '24 hours'""",
    )
    rate = row.failed / row.finished if row.finished else 0.0
    return dg.AssetCheckResult(
        passed=row.finished < FAILURE_RATE_MIN_SENDS or rate <= FAILURE_RATE_WARN,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **counts_metadata(row._mapping),
            "failure_rate": dg.MetadataValue.float(round(rate, 4)),
        },
    )


WHATSAPP_CHECKS = [whatsapp_no_stuck_sends, whatsapp_due_messages_sent, whatsapp_failure_rate]
