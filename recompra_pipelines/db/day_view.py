"""What one organization-day holds after a sync: its sales and its quarantine, as plain rows
(for a connector's contract tests, `recompra_pipelines.testing`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from recompra_pipelines.db.tables.sync import clients, erp_quarantine, sales


@dataclass(frozen=True)
class DaySale:
    external_id: str
    total: Decimal
    nature: str
    valid: bool
    cancelled: bool
    removed: bool
    client_name: str | None


@dataclass(frozen=True)
class DayQuarantine:
    external_id: str | None
    field: str | None
    reason: str


def day_sales(conn: sa.Connection, org_id: str, day: date) -> dict[str, DaySale]:
    """External id -> the stored sale, for every sale of the day (removed ones included)."""
    rows = conn.execute(
        sa.select(
            sales.c.id_externo,
            sales.c.valor_total,
            sales.c.natureza,
            sales.c.valida,
            sales.c.cancelada,
            sales.c.remocao_motivo.is_not(None).label("removed"),
            clients.c.nome,
        )
        .select_from(sales.outerjoin(clients, clients.c.id == sales.c.cliente_id))
        .where(sales.c.organizacao_id == org_id, sales.c.data_referencia == day)
        .order_by(sales.c.id_externo)
    )
    return {
        row.id_externo: DaySale(
            external_id=row.id_externo,
            total=row.valor_total,
            nature=row.natureza,
            valid=row.valida,
            cancelled=row.cancelada,
            removed=row.removed,
            client_name=row.nome,
        )
        for row in rows
    }


def day_quarantine(conn: sa.Connection, org_id: str, day: date) -> list[DayQuarantine]:
    """The day's quarantined records, by id then field."""
    rows = conn.execute(
        sa.select(erp_quarantine.c.id_externo, erp_quarantine.c.campo, erp_quarantine.c.motivo)
        .where(erp_quarantine.c.organizacao_id == org_id, erp_quarantine.c.data_referencia == day)
        .order_by(erp_quarantine.c.id_externo, erp_quarantine.c.campo)
    )
    return [DayQuarantine(row.id_externo, row.campo, row.motivo) for row in rows]
