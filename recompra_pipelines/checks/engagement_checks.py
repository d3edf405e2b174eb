"""Alerts on campaign interactions, attribution and the WhatsApp outbox of one org x day.

All six read the organization's interactions (and the day's sales and conversions), so they
run as one step on one query after the run's last engagement step.
"""

import dagster as dg

from recompra_pipelines.checks.queries import counts_metadata, partition_row, selected
from recompra_pipelines.domain.campaign_rules import (
    WITHDRAWN_SALE_CANCELLED,
    WITHDRAWN_SALE_REMOVED,
)
from recompra_pipelines.messaging.outbox import DUE_AT, HAS_TEMPLATE, UNKNOWN_RESULT
from recompra_pipelines.partitions import org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase

# A claim older than this without an answer recorded is a crashed or hung dispatcher.
STUCK_AFTER_MINUTES = 10
# A send whose answer was lost is resolved by its status webhook (biz_opaque_callback_data),
# which Meta posts within seconds of accepting a message; past this, no status is coming.
UNKNOWN_RESOLUTION_MINUTES = 15
# Due messages still unsent this long after they became due mean the dispatcher is not
# keeping up (or sending is paused).
UNSENT_AFTER_MINUTES = 30
FAILURE_RATE_WARN = 0.2
FAILURE_RATE_MIN_SENDS = 10

CANCELLED_WITHDRAWN = dg.AssetCheckSpec(
    "interactions_of_cancelled_sales_withdrawn",
    asset="campaign_interactions",
    partitions_def=org_day_partitions,
    description="ERROR when a cancelled (or vanished) sale of the day still has an unsent "
    f"interaction: its messages must be withdrawn (IGNORADO, {WITHDRAWN_SALE_CANCELLED} or "
    f"{WITHDRAWN_SALE_REMOVED}) before they go out.",
)
IMMEDIATE_SENT = dg.AssetCheckSpec(
    "immediate_interactions_sent",
    asset="campaign_interactions",
    partitions_def=org_day_partitions,
    description="WARN when immediate messages of the day's purchases are still unsent 30 "
    "minutes after they became due (quiet hours and retries move that time).",
)
CONVERSIONS_VALID = dg.AssetCheckSpec(
    "conversions_point_at_valid_sales",
    asset="sale_attribution",
    partitions_def=org_day_partitions,
    description="ERROR when a conversion credits a cancelled or invalid sale of the day.",
)
NO_STUCK_SENDS = dg.AssetCheckSpec(
    "whatsapp_no_stuck_sends",
    asset="whatsapp_immediate_dispatch",
    partitions_def=org_day_partitions,
    description="ERROR when an interaction is left in ENVIANDO: a send whose answer was lost "
    "and that no status webhook resolved within 15 minutes, or a claim with no answer recorded "
    "(a crashed dispatcher). Either may or may not have reached the client and is never re-sent "
    "automatically: look it up in Meta's message history (biz_opaque_callback_data = the "
    "interaction id), then set its status by hand. Lost answers still within the 15 minutes are "
    "counted as awaiting_status and do not fail the check.",
)
DUE_SENT = dg.AssetCheckSpec(
    "whatsapp_due_messages_sent",
    asset="whatsapp_immediate_dispatch",
    partitions_def=org_day_partitions,
    description="WARN when messages due more than 30 minutes ago are still waiting.",
)
FAILURE_RATE = dg.AssetCheckSpec(
    "whatsapp_failure_rate",
    asset="whatsapp_immediate_dispatch",
    partitions_def=org_day_partitions,
    description="WARN when over 20 % of the last 24 h's send attempts failed (at least 10).",
)

# NOT MATERIALIZED: each count is planned on its own with the interactions' indexes, instead
# of scanning the organization's whole outbox into a temporary result first.
_COUNTS = f"""
WITH day_interactions AS NOT MATERIALIZED (
    SELECT i.*, s.cancelada AS venda_cancelada
    FROM interactions i JOIN sales s ON s.id = i.venda_id
    WHERE i.organizacao_id = :org AND s.data_referencia = :day
), outbox AS NOT MATERIALIZED (
    SELECT * FROM interactions WHERE organizacao_id = :org
)
SELECT
  (SELECT count(*) FROM day_interactions WHERE venda_cancelada AND status_envio = 'PENDENTE')
     AS unsent_of_cancelled_sales,
  (SELECT count(*) FROM day_interactions i JOIN organizations o ON o.id = i.organizacao_id
   WHERE i.agendamento_bloco_referencia IS NULL AND i.tipo = 'ENVIO-MENSAGEM' AND {HAS_TEMPLATE}
     AND i.status_envio IN ('PENDENTE', 'ENVIANDO')
     AND {DUE_AT} < now() - make_interval(mins => :unsent_minutes)) AS late_immediate,
  (SELECT count(*) FROM campaign_conversions cc JOIN sales s ON s.id = cc.venda_id
   WHERE cc.organizacao_id = :org AND s.data_referencia = :day AND NOT s.valida)
     AS conversions_on_invalid_sales,
  (SELECT count(*) FROM outbox WHERE status_envio = 'ENVIANDO'
     AND erro_codigo = '{UNKNOWN_RESULT}'
     AND data_envio < now() - make_interval(mins => :resolution_minutes)) AS unknown_result,
  (SELECT count(*) FROM outbox WHERE status_envio = 'ENVIANDO'
     AND erro_codigo = '{UNKNOWN_RESULT}'
     AND data_envio >= now() - make_interval(mins => :resolution_minutes)) AS awaiting_status,
  (SELECT count(*) FROM outbox WHERE status_envio = 'ENVIANDO'
     AND erro_codigo IS DISTINCT FROM '{UNKNOWN_RESULT}'
     AND envio_reservado_data < now() - make_interval(mins => :stuck_minutes)) AS stale_claims,
  (SELECT count(*) FROM outbox i JOIN organizations o ON o.id = i.organizacao_id
   WHERE i.status_envio = 'PENDENTE' AND i.tipo = 'ENVIO-MENSAGEM' AND {HAS_TEMPLATE}
     AND {DUE_AT} < now() - make_interval(mins => :unsent_minutes)) AS overdue,
  (SELECT count(*) FROM outbox WHERE status_envio = 'FALHOU'
     AND data_atualizacao >= now() - interval '24 hours') AS failed,
  (SELECT count(*) FROM outbox WHERE status_envio IN ('ENVIADO', 'ENTREGUE', 'LIDO', 'FALHOU')
     AND data_atualizacao >= now() - interval '24 hours') AS finished
"""


@dg.multi_asset_check(
    specs=[
        CANCELLED_WITHDRAWN,
        IMMEDIATE_SENT,
        CONVERSIONS_VALID,
        NO_STUCK_SENDS,
        DUE_SENT,
        FAILURE_RATE,
    ],
    can_subset=True,
)
def engagement_checks(context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase):
    """Interactions, conversions and the outbox of the day's organization, in one query."""
    row = partition_row(
        context,
        crm_db,
        _COUNTS,
        unsent_minutes=UNSENT_AFTER_MINUTES,
        stuck_minutes=STUCK_AFTER_MINUTES,
        resolution_minutes=UNKNOWN_RESOLUTION_MINUTES,
    )
    rate = row.failed / row.finished if row.finished else 0.0
    results = [
        (
            CANCELLED_WITHDRAWN,
            dg.AssetCheckResult(
                passed=row.unsent_of_cancelled_sales == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=counts_metadata(
                    {"unsent_of_cancelled_sales": row.unsent_of_cancelled_sales}
                ),
            ),
        ),
        (
            IMMEDIATE_SENT,
            dg.AssetCheckResult(
                passed=row.late_immediate == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=counts_metadata({"late_immediate": row.late_immediate}),
            ),
        ),
        (
            CONVERSIONS_VALID,
            dg.AssetCheckResult(
                passed=row.conversions_on_invalid_sales == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=counts_metadata(
                    {"conversions_on_invalid_sales": row.conversions_on_invalid_sales}
                ),
            ),
        ),
        (
            NO_STUCK_SENDS,
            dg.AssetCheckResult(
                passed=row.unknown_result + row.stale_claims == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=counts_metadata(
                    {
                        "unknown_result": row.unknown_result,
                        "awaiting_status": row.awaiting_status,
                        "stale_claims": row.stale_claims,
                    }
                ),
            ),
        ),
        (
            DUE_SENT,
            dg.AssetCheckResult(
                passed=row.overdue == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=counts_metadata({"overdue": row.overdue}),
            ),
        ),
        (
            FAILURE_RATE,
            dg.AssetCheckResult(
                passed=row.finished < FAILURE_RATE_MIN_SENDS or rate <= FAILURE_RATE_WARN,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    **counts_metadata({"failed": row.failed, "finished": row.finished}),
                    "failure_rate": dg.MetadataValue.float(round(rate, 4)),
                },
            ),
        ),
    ]
    yield from selected(context, results)


ENGAGEMENT_CHECKS = [engagement_checks]
