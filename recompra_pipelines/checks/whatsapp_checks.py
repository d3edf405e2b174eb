"""Alerts on the WhatsApp outbox of the partition's organization (stuck, late, failing)."""

from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.checks.queries import counts_metadata, partition_row
from recompra_pipelines.messaging.breaker import suspended_connections
from recompra_pipelines.messaging.outbox import DUE_AT, HAS_TEMPLATE, UNKNOWN_RESULT
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.whatsapp import WhatsAppCloudApi

ASSET = "whatsapp_immediate_dispatch"
# A send whose answer was lost is resolved by its status webhook (biz_opaque_callback_data),
# which Meta posts within seconds of accepting a message; past this, no status is coming.
UNKNOWN_RESOLUTION_MINUTES = 15
# Due messages still unsent after this long mean the dispatcher is not keeping up.
UNSENT_AFTER_MINUTES = 30
FAILURE_RATE_WARN = 0.2
FAILURE_RATE_MIN_SENDS = 10


@dg.asset_check(asset=ASSET, partitions_def=org_day_partitions)
def whatsapp_no_stuck_sends(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase, whatsapp: WhatsAppCloudApi
) -> dg.AssetCheckResult:
    """No interaction is left in ENVIANDO: a send whose answer was lost and that no
    status webhook resolved within 15 minutes, or a claim older than the claim bound
    (`claim_expiry_minutes`) with no answer recorded (a crashed dispatcher that no dispatch
    has cleaned up since: the next one releases the claim when it was never attempted). A lost
    answer may or may not have reached the client and is never re-sent automatically: look
    it up in Meta's message history (biz_opaque_callback_data = the interaction id), then set
    its status by hand. Lost answers still within the 15 minutes are counted as
    ``awaiting_status`` and do not fail the check."""
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
          AND (erro_codigo = '{UNKNOWN_RESULT}' OR envio_reservado_data < now() - :bound)""",
        bound=whatsapp.claim_expiry(),
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


@dg.asset_check(asset=ASSET, partitions_def=org_day_partitions)
def whatsapp_numbers_not_suspended(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase
) -> dg.AssetCheckResult:
    """WARN while a WhatsApp number is suspended by its circuit breaker (sends in a row got no
    answer, no connection or a 5xx): its messages wait, due, until the suspension ends, and
    the next dispatch tries the number again. Persistent suspensions mean Meta (or the
    network to it) is down for this number."""
    part = org_day_of(context)
    with crm_db.engine.connect() as conn:
        suspended = suspended_connections(conn, part.org_id, datetime.now(UTC))
        waiting = conn.scalar(
            sa.text(
                "SELECT count(*) FROM interactions WHERE organizacao_id = :org"
                " AND status_envio = 'PENDENTE' AND tipo = 'ENVIO-MENSAGEM'"
            ),
            {"org": part.org_id},
        )
    description = "; ".join(
        f"number {row.whatsapp_telefone_id} suspended until {row.envio_suspenso_ate:%Y-%m-%d %H:%M}"
        f" UTC after {row.envio_falhas_consecutivas} sends in a row without an answer"
        for row in suspended
    )
    return dg.AssetCheckResult(
        passed=not suspended,
        severity=dg.AssetCheckSeverity.WARN,
        description=description or None,
        metadata={
            "suspended_numbers": dg.MetadataValue.int(len(suspended)),
            "messages_waiting": dg.MetadataValue.int(waiting if suspended else 0),
        },
    )


WHATSAPP_CHECKS = [
    whatsapp_no_stuck_sends,
    whatsapp_due_messages_sent,
    whatsapp_failure_rate,
    whatsapp_numbers_not_suspended,
]
