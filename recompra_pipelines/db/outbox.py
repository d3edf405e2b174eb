"""The WhatsApp outbox's queries over due interactions: which are due, claiming them, skipping
or deferring them, and the counts the outbox checks read.

When an interaction is due, and whether it is a message at all, is written once here (private
SQL fragments) and used only by the functions below; `messaging.outbox` records each send's
outcome, `messaging.dispatcher` drives them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

import sqlalchemy as sa

# The error codes these queries write or read (interactions.erro_codigo).
UNKNOWN_RESULT = "RESULTADO_DESCONHECIDO"
LATE = "ATRASADA"
# The interaction's campaign was paused or deactivated before it went out.
CAMPAIGN_INACTIVE = "CAMPANHA_INATIVA"

# When an interaction becomes due: its retry/defer time, else its scheduled (date, block) in
# the organization's timezone, else as soon as it exists (immediate campaigns).
_DUE_AT = """COALESCE(
    i.envio_proxima_tentativa_data,
    CASE WHEN i.agendamento_data_referencia IS NULL THEN i.data_insercao
         ELSE (i.agendamento_data_referencia
               + CAST(COALESCE(i.agendamento_bloco_referencia, '00:00') AS time))
              AT TIME ZONE o.fuso_horario END)"""
_IMMEDIATE = "i.agendamento_bloco_referencia IS NULL"
# Only interactions with a template are messages to send; one without (a campaign that has
# none yet) stays PENDENTE untouched, as in the old sender.
_HAS_TEMPLATE = """COALESCE(i.whatsapp_template_id,
    (SELECT ca.whatsapp_template_id FROM campaigns ca WHERE ca.id = i.campanha_id)) IS NOT NULL"""

_DUE_ROWS = f"""
    SELECT i.id FROM interactions i JOIN organizations o ON o.id = i.organizacao_id
    WHERE i.organizacao_id = :org AND i.status_envio = 'PENDENTE'
      AND i.tipo = 'ENVIO-MENSAGEM' AND {_HAS_TEMPLATE}
      AND {_DUE_AT} <= CAST(:now AS timestamptz) {{extra}}
"""


def skip_late(conn: sa.Connection, org_id: str, now: datetime, max_lateness) -> int:
    """Never-tried interactions due longer ago than ``max_lateness`` are IGNORADO: a missed
    block is caught up within the allowance, after that a stale message does more harm."""
    query = _DUE_ROWS.format(
        extra=f"AND i.envio_tentativas = 0 AND {_DUE_AT} < CAST(:now AS timestamptz) - :late"
        " FOR UPDATE OF i SKIP LOCKED"
    )
    return conn.execute(
        sa.text(
            f"""UPDATE interactions SET status_envio = 'IGNORADO', erro_codigo = '{LATE}',
                erro_envio = 'due more than ' || CAST(:late AS text) || ' ago; not sent late',
                data_atualizacao = now()
            WHERE id IN ({query})"""
        ),
        {"org": org_id, "now": now, "late": max_lateness},
    ).rowcount


def skip_inactive_campaigns(conn: sa.Connection, org_id: str, now: datetime) -> int:
    """Due interactions of a paused or deactivated campaign are IGNORADO, not sent: pausing a
    campaign stops its queued messages. Skipped when due rather than when paused, so a
    campaign paused and reactivated in between sends on time; one reactivated after its
    messages were due finds them skipped (or, if no dispatcher ran meanwhile, past the
    lateness allowance), never flushed all at once."""
    query = _DUE_ROWS.format(
        extra="AND EXISTS (SELECT 1 FROM campaigns ca WHERE ca.organizacao_id = i.organizacao_id"
        " AND ca.id = i.campanha_id AND NOT ca.ativo) FOR UPDATE OF i SKIP LOCKED"
    )
    return conn.execute(
        sa.text(
            f"""UPDATE interactions SET status_envio = 'IGNORADO', erro_codigo = '{CAMPAIGN_INACTIVE}',
                erro_envio = 'a campanha foi pausada ou desativada antes do envio',
                data_atualizacao = now()
            WHERE id IN ({query})"""
        ),
        {"org": org_id, "now": now},
    ).rowcount


def defer_due(conn: sa.Connection, org_id: str, now: datetime, until: datetime) -> int:
    """Move the organization's due interactions to ``until`` (the end of its quiet hours)."""
    query = _DUE_ROWS.format(extra="FOR UPDATE OF i SKIP LOCKED")
    return conn.execute(
        sa.text(
            f"""UPDATE interactions SET envio_proxima_tentativa_data = :until,
                data_atualizacao = now() WHERE id IN ({query})"""
        ),
        {"org": org_id, "now": now, "until": until},
    ).rowcount


def claim_due(
    conn: sa.Connection, org_id: str, now: datetime, *, limit: int, immediate_only: bool
) -> list[UUID]:
    """Mark up to ``limit`` due interactions ENVIANDO (oldest due first); their ids."""
    query = _DUE_ROWS.format(
        extra=(f"AND {_IMMEDIATE} " if immediate_only else "")
        + f"ORDER BY {_DUE_AT}, i.id LIMIT :limit FOR UPDATE OF i SKIP LOCKED"
    )
    return list(
        conn.execute(
            sa.text(
                f"""UPDATE interactions SET status_envio = 'ENVIANDO', envio_reservado_data = :now,
                envio_tentativa_iniciada_data = NULL, data_atualizacao = now()
                WHERE id IN ({query}) RETURNING id"""
            ),
            {"org": org_id, "now": now, "limit": limit},
        ).scalars()
    )


def organizations_with_due_messages(
    conn: sa.Connection, now: datetime, claim_expiry: timedelta
) -> list[str]:
    """Organizations with at least one interaction due to (re)send at ``now``, or a claim
    of a dead dispatcher to release."""
    return list(
        conn.execute(
            sa.text(
                f"""SELECT i.organizacao_id FROM interactions i
                    JOIN organizations o ON o.id = i.organizacao_id
                    WHERE i.status_envio = 'PENDENTE' AND i.tipo = 'ENVIO-MENSAGEM'
                      AND {_HAS_TEMPLATE}
                      AND {_DUE_AT} <= CAST(:now AS timestamptz)
                    UNION
                    SELECT i.organizacao_id FROM interactions i
                    WHERE i.status_envio = 'ENVIANDO' AND i.envio_tentativa_iniciada_data IS NULL
                      AND i.envio_reservado_data < CAST(:now AS timestamptz) - :expiry
                    ORDER BY 1"""
            ),
            {"now": now, "expiry": claim_expiry},
        ).scalars()
    )


def pending_messages(conn: sa.Connection, org_id: str) -> int:
    """The organization's messages waiting to be sent (due or not)."""
    return conn.scalar(
        sa.text(
            "SELECT count(*) FROM interactions WHERE organizacao_id = :org"
            " AND status_envio = 'PENDENTE' AND tipo = 'ENVIO-MENSAGEM'"
        ),
        {"org": org_id},
    )


# The engagement checks' counts for one org x day. NOT MATERIALIZED: each count is planned on its own with the interactions' indexes, instead
# of scanning the organization's whole outbox into a temporary result first.
_ENGAGEMENT_COUNTS = f"""
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
   WHERE i.agendamento_bloco_referencia IS NULL AND i.tipo = 'ENVIO-MENSAGEM' AND {_HAS_TEMPLATE}
     AND i.status_envio IN ('PENDENTE', 'ENVIANDO')
     AND {_DUE_AT} < now() - make_interval(mins => :unsent_minutes)) AS late_immediate,
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
     AND envio_reservado_data < now() - CAST(:claim_bound AS interval)) AS stale_claims,
  (SELECT count(*) FROM outbox i JOIN organizations o ON o.id = i.organizacao_id
   WHERE i.status_envio = 'PENDENTE' AND i.tipo = 'ENVIO-MENSAGEM' AND {_HAS_TEMPLATE}
     AND {_DUE_AT} < now() - make_interval(mins => :unsent_minutes)) AS overdue,
  (SELECT count(*) FROM outbox WHERE status_envio = 'FALHOU'
     AND data_atualizacao >= now() - interval '24 hours') AS failed,
  (SELECT count(*) FROM outbox WHERE status_envio IN ('ENVIADO', 'ENTREGUE', 'LIDO', 'FALHOU')
     AND data_atualizacao >= now() - interval '24 hours') AS finished
"""


def engagement_counts(
    conn: sa.Connection,
    org_id: str,
    day: date,
    *,
    unsent_minutes: int,
    resolution_minutes: int,
    claim_bound: timedelta,
) -> sa.Row:
    """The day's interactions and conversions, and the organization's outbox: unsent messages
    of cancelled sales, immediate messages late by `unsent_minutes`, conversions on invalid
    sales, lost answers past (and within) `resolution_minutes`, claims older than
    `claim_bound`, overdue messages, and the last 24 h's failed and finished sends."""
    return conn.execute(
        sa.text(_ENGAGEMENT_COUNTS),
        {
            "org": org_id,
            "day": day,
            "unsent_minutes": unsent_minutes,
            "resolution_minutes": resolution_minutes,
            "claim_bound": claim_bound,
        },
    ).one()
