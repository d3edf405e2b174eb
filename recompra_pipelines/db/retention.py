"""The deletions of the `erp_retention` maintenance asset: raw ERP extracts, quarantined
records, catalog answers and WhatsApp webhook bodies past their retention.

The sync stores every distinct ERP response of an org x day (an open day changes all day, so
it can hold hundreds), every bad record it quarantines and every distinct catalog answer; the
webhook receiver stores every body Meta posts. Retention keeps them bounded without ever losing
what the CRM tables were built from: the extract staging points at for each org x day stays for
as long as staging does, so that day can still be rebuilt without the ERP; an organization's
latest catalog answer stays; a body with an event not yet applied stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.domain.retention import RetentionCutoffs

# Webhook bodies are not an organization's (one body can carry several business accounts), so
# they go outside the per-organization transactions, this many at a time: a day of a large
# fleet's bodies in one statement would hold its locks for as long as the delete takes.
WEBHOOKS_PER_BATCH = 5_000


@dataclass
class RetentionCounts:
    raw_extracts_deleted: int = 0
    raw_extract_bytes_deleted: int = 0
    quarantine_deleted: int = 0
    catalog_extracts_deleted: int = 0
    catalog_extract_bytes_deleted: int = 0
    webhooks_deleted: int = 0
    webhook_events_deleted: int = 0


# A raw extract is deleted only when all of these hold:
# - its business day is older than the retention (the policy's clock);
# - it was last captured before that too: a backfill that just re-fetched an old day is between
#   its fetch and its normalize step, and the fresh extract must survive to be normalized;
# - staging does not point at it: that extract is what the day's CRM rows were built from, and
#   the only copy to rebuild them from without calling the ERP;
# - it is not the day's latest capture: staging is UNLOGGED and a database crash empties it,
#   after which the latest capture (normally the one staged) still keeps each day rebuildable.
_DELETE_RAW_EXTRACTS = sa.text(
    """
    WITH deleted AS (
        DELETE FROM erp_raw_extracts AS e
        WHERE e.organizacao_id = :org
          AND e.data_referencia < :day_cutoff
          AND e.ultima_captura_em < :captured_cutoff
          AND NOT EXISTS (
              SELECT 1 FROM erp_staging_extracts AS s
              WHERE s.organizacao_id = e.organizacao_id
                AND s.data_referencia = e.data_referencia
                AND s.extracao_id = e.id
          )
          AND EXISTS (
              SELECT 1 FROM erp_raw_extracts AS later
              WHERE later.organizacao_id = e.organizacao_id
                AND later.data_referencia = e.data_referencia
                -- "Latest" as db.extracts.latest_extract orders it (ties: the smaller id).
                AND (later.ultima_captura_em > e.ultima_captura_em
                     OR (later.ultima_captura_em = e.ultima_captura_em AND later.id < e.id))
          )
        RETURNING e.tamanho_bytes
    )
    SELECT count(*) AS rows, COALESCE(sum(tamanho_bytes), 0) AS bytes FROM deleted
    """
)

_DELETE_QUARANTINE = sa.text(
    """
    WITH deleted AS (
        DELETE FROM erp_quarantine
        WHERE organizacao_id = :org AND ultima_ocorrencia_em < :seen_cutoff
        RETURNING 1
    )
    SELECT count(*) FROM deleted
    """
)

# A catalog answer goes when it was last captured before the cutoff and a later one of the same
# organization and ERP exists: the latest is what the catalog tables now hold, and it stays
# however old (an ERP whose catalog never changes answers the same content, which only bumps
# that row's capture time).
_DELETE_CATALOG_EXTRACTS = sa.text(
    """
    WITH deleted AS (
        DELETE FROM erp_catalog_extracts AS e
        WHERE e.organizacao_id = :org
          AND e.ultima_captura_em < :captured_cutoff
          AND EXISTS (
              SELECT 1 FROM erp_catalog_extracts AS later
              WHERE later.organizacao_id = e.organizacao_id
                AND later.integracao_tipo = e.integracao_tipo
                AND (later.ultima_captura_em > e.ultima_captura_em
                     OR (later.ultima_captura_em = e.ultima_captura_em AND later.id < e.id))
          )
        RETURNING e.tamanho_bytes
    )
    SELECT count(*) AS rows, COALESCE(sum(tamanho_bytes), 0) AS bytes FROM deleted
    """
)

# A webhook body goes, with its events (ON DELETE CASCADE), when it was received before the
# cutoff and none of its events is still waiting to be applied (its message or number is
# unknown yet): a pending event is the only record of that status.
_DELETE_WEBHOOKS = sa.text(
    """
    WITH batch AS (
        SELECT w.id FROM whatsapp_webhooks AS w
        WHERE w.recebido_em < :received_cutoff
          AND NOT EXISTS (
              SELECT 1 FROM whatsapp_eventos AS ev
              WHERE ev.webhook_id = w.id AND ev.aplicado_em IS NULL
          )
        ORDER BY w.recebido_em
        LIMIT :batch
    ), events AS (
        SELECT count(*) AS n FROM whatsapp_eventos AS ev JOIN batch ON ev.webhook_id = batch.id
    ), deleted AS (
        DELETE FROM whatsapp_webhooks AS w USING batch WHERE w.id = batch.id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM deleted) AS rows, (SELECT n FROM events) AS events
    """
)


def organization_ids(conn: sa.Connection) -> list[str]:
    return list(conn.scalars(sa.text("SELECT id FROM organizations ORDER BY id")))


def apply_retention(engine: sa.Engine, cutoffs: RetentionCutoffs) -> RetentionCounts:
    """One transaction per organization under its lock, so a sync step never sees half of it
    and one organization's purge never holds another's rows; then the webhook bodies, a batch
    per transaction."""
    counts = RetentionCounts()
    with engine.connect() as conn:
        org_ids = organization_ids(conn)
    for org_id in org_ids:
        with engine.begin() as conn:
            lock_organization(conn, org_id)
            _prune_organization(conn, org_id, cutoffs, counts)
    while True:
        with engine.begin() as conn:
            webhooks = conn.execute(
                _DELETE_WEBHOOKS,
                {"received_cutoff": cutoffs.webhook_received, "batch": WEBHOOKS_PER_BATCH},
            ).one()
        counts.webhooks_deleted += webhooks.rows
        counts.webhook_events_deleted += int(webhooks.events)
        if webhooks.rows < WEBHOOKS_PER_BATCH:
            return counts


def _prune_organization(
    conn: sa.Connection, org_id: str, cutoffs: RetentionCutoffs, counts: RetentionCounts
) -> None:
    extracts = conn.execute(
        _DELETE_RAW_EXTRACTS,
        {
            "org": org_id,
            "day_cutoff": cutoffs.extract_day,
            "captured_cutoff": cutoffs.extract_captured,
        },
    ).one()
    counts.raw_extracts_deleted += extracts.rows
    counts.raw_extract_bytes_deleted += int(extracts.bytes)
    counts.quarantine_deleted += conn.scalar(
        _DELETE_QUARANTINE, {"org": org_id, "seen_cutoff": cutoffs.quarantine_seen}
    )
    catalog = conn.execute(
        _DELETE_CATALOG_EXTRACTS,
        {"org": org_id, "captured_cutoff": cutoffs.catalog_captured},
    ).one()
    counts.catalog_extracts_deleted += catalog.rows
    counts.catalog_extract_bytes_deleted += int(catalog.bytes)
