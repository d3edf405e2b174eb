"""The cashback steps: the ledger reconciliation of an org x day and the daily expiry.

Each is one transaction under the organization's advisory lock (``db.bulk.lock_organization``), like
the sync steps, so two overlapping runs, a retry or a backfill take turns and find nothing left to
do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from recompra_pipelines.db import ledger
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.db.sync_progress import StepMarker, mark_done
from recompra_pipelines.sync.allocation import collector_paused


def reconcile_day_cashback(
    engine: sa.Engine, org_id: str, day: date, now: datetime | None = None
) -> ledger.LedgerCounts:
    with collector_paused(), engine.begin() as conn:
        lock_organization(conn, org_id)
        counts = ledger.reconcile_sales(conn, org_id, day, now or datetime.now(UTC))
        mark_done(conn, org_id, day, StepMarker.CASHBACK)
        return counts


def expire_day_cashback(
    engine: sa.Engine, org_id: str, day: date, now: datetime | None = None
) -> ledger.ExpiryCounts:
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        return ledger.expire_due_lots(conn, org_id, day, now or datetime.now(UTC))
