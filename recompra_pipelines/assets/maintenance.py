"""Retention of raw ERP extracts and quarantine: the daily `erp_retention` maintenance asset.

The sync stores every distinct ERP response of an org x day (an open day changes all day, so
it can hold hundreds) and every bad record it quarantines. Retention keeps both bounded without
ever losing what the CRM tables were built from: the extract staging points at for each org x
day stays for as long as staging does, so that day can still be rebuilt without the ERP.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Self
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines import settings as env
from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.partitions import DAY_TIMEZONE
from recompra_pipelines.resources.crm_database import CrmDatabase

RAW_EXTRACT_DAYS_ENV = env.RETENTION_RAW_EXTRACT_DAYS.env
QUARANTINE_DAYS_ENV = env.RETENTION_QUARANTINE_DAYS.env


@dataclass(frozen=True)
class RetentionPolicy:
    raw_extract_days: int = env.RETENTION_RAW_EXTRACT_DAYS.default
    quarantine_days: int = env.RETENTION_QUARANTINE_DAYS.default

    @classmethod
    def from_env(cls) -> Self:
        return cls(
            raw_extract_days=env.RETENTION_RAW_EXTRACT_DAYS.read(),
            quarantine_days=env.RETENTION_QUARANTINE_DAYS.read(),
        )


@dataclass(frozen=True)
class RetentionCutoffs:
    """Raw extracts go when their business day is before `extract_day` and they were last
    captured before `extract_captured`; quarantine rows when last seen before `quarantine_seen`."""

    extract_day: date
    extract_captured: datetime
    quarantine_seen: datetime

    @classmethod
    def at(cls, now: datetime, policy: RetentionPolicy) -> Self:
        today = now.astimezone(ZoneInfo(DAY_TIMEZONE)).date()
        return cls(
            extract_day=today - timedelta(days=policy.raw_extract_days),
            extract_captured=now - timedelta(days=policy.raw_extract_days),
            quarantine_seen=now - timedelta(days=policy.quarantine_days),
        )


@dataclass
class RetentionCounts:
    raw_extracts_deleted: int = 0
    raw_extract_bytes_deleted: int = 0
    quarantine_deleted: int = 0


# A raw extract is deleted only when all three hold:
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


def apply_retention(engine: sa.Engine, cutoffs: RetentionCutoffs) -> RetentionCounts:
    """One transaction per organization under its lock, so a sync step never sees half of it
    and one organization's purge never holds another's rows."""
    counts = RetentionCounts()
    with engine.connect() as conn:
        org_ids = conn.scalars(sa.text("SELECT id FROM organizations ORDER BY id")).all()
    for org_id in org_ids:
        with engine.begin() as conn:
            lock_organization(conn, org_id)
            extracts = conn.execute(
                _DELETE_RAW_EXTRACTS,
                {
                    "org": org_id,
                    "day_cutoff": cutoffs.extract_day,
                    "captured_cutoff": cutoffs.extract_captured,
                },
            ).one()
            quarantined = conn.scalar(
                _DELETE_QUARANTINE, {"org": org_id, "seen_cutoff": cutoffs.quarantine_seen}
            )
        counts.raw_extracts_deleted += extracts.rows
        counts.raw_extract_bytes_deleted += int(extracts.bytes)
        counts.quarantine_deleted += quarantined
    return counts


@dg.asset(
    group_name=AssetGroup.MAINTENANCE.value,
    # It reads (and prunes) every partition's raw extracts and quarantined records.
    deps=["erp_raw_extract", "erp_normalized_sales"],
    kinds={"postgres"},
)
def erp_retention(context: dg.AssetExecutionContext, crm_db: CrmDatabase) -> dg.MaterializeResult:
    """Deletes raw ERP extracts older than RECOMPRA_RETENTION_RAW_EXTRACT_DAYS (90) by business
    day, except the extract each org x day's staging was built from, and quarantined records
    last seen more than RECOMPRA_RETENTION_QUARANTINE_DAYS (180) ago.

    Dagster's own history (runs, materializations, partition status) is untouched: a day whose
    superseded extracts are gone still shows as materialized, and re-running it calls the ERP.
    """
    policy = RetentionPolicy.from_env()
    cutoffs = RetentionCutoffs.at(datetime.now(UTC), policy)
    counts = apply_retention(crm_db.engine, cutoffs)
    context.log.info(
        f"retention: {counts.raw_extracts_deleted} raw extract(s) of days before "
        f"{cutoffs.extract_day} and {counts.quarantine_deleted} quarantined record(s) deleted"
    )
    return dg.MaterializeResult(
        metadata={
            "raw_extract_days": dg.MetadataValue.int(policy.raw_extract_days),
            "quarantine_days": dg.MetadataValue.int(policy.quarantine_days),
            "raw_extract_day_cutoff": cutoffs.extract_day.isoformat(),
            "raw_extracts_deleted": dg.MetadataValue.int(counts.raw_extracts_deleted),
            "raw_extract_bytes_deleted": dg.MetadataValue.int(counts.raw_extract_bytes_deleted),
            "quarantine_deleted": dg.MetadataValue.int(counts.quarantine_deleted),
        }
    )
