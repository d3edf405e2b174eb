"""Reading an organization's sync settings from the CRM database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from recompra_pipelines.db.tables.sync import organizations
from recompra_pipelines.domain.campaign_rules import DEFAULT_MAX_SALE_AGE_DAYS


class UnknownOrganization(LookupError):
    pass


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    timezone: ZoneInfo
    integration_type: str | None
    integration_config: dict[str, Any]
    integration_active: bool
    effects_start: date | None
    settings: dict[str, Any]

    @property
    def daily_message_cap(self) -> int | None:
        return self.settings.get("campanhas", {}).get("limite_diario_mensagens")

    @property
    def max_sale_age_days(self) -> int:
        return self.settings.get("campanhas", {}).get(
            "idade_maxima_venda_dias", DEFAULT_MAX_SALE_AGE_DAYS
        )

    def __repr__(self) -> str:  # the integration config holds secrets
        return f"Organization(id={self.id!r}, integration_type={self.integration_type!r})"


def load_organization(conn: sa.Connection, org_id: str) -> Organization:
    row = conn.execute(sa.select(organizations).where(organizations.c.id == org_id)).first()
    if row is None:
        raise UnknownOrganization(
            f"organization {org_id!r} does not exist (create it with `recompra org apply`)"
        )
    return _from_row(row)


def active_integrated_organizations(conn: sa.Connection) -> list[Organization]:
    return [org for org in integrated_organizations(conn) if org.integration_active]


def integrated_organizations(conn: sa.Connection) -> list[Organization]:
    """Every organization with an ERP integration, active or not (ticks say why they skip)."""
    rows = conn.execute(
        sa.select(organizations)
        .where(organizations.c.integracao_tipo.is_not(None))
        .order_by(organizations.c.id)
    ).all()
    return [_from_row(row) for row in rows]


def organization_ids(conn: sa.Connection) -> list[str]:
    return list(conn.scalars(sa.select(organizations.c.id).order_by(organizations.c.id)))


def organizations_with_daily_work(conn: sa.Connection) -> list[Organization]:
    """Every organization the daily jobs (cashback expiry, RFM, daily campaigns) have work for:
    one with a cashback program (active or not: its lots still expire) or an active campaign,
    whatever the state of its ERP integration - turning the ERP off must not stop cashback
    from expiring nor birthdays from being greeted."""
    rows = conn.execute(
        sa.text(
            """
            SELECT o.* FROM organizations o
            WHERE EXISTS (SELECT 1 FROM cashback_programs p WHERE p.organizacao_id = o.id)
               OR EXISTS (SELECT 1 FROM campaigns c WHERE c.organizacao_id = o.id AND c.ativo)
            ORDER BY o.id
            """
        )
    ).all()
    return [_from_row(row) for row in rows]


def _from_row(row) -> Organization:
    return Organization(
        id=row.id,
        name=row.nome,
        timezone=ZoneInfo(row.fuso_horario),
        integration_type=row.integracao_tipo,
        integration_config=dict(row.integracao_configuracao or {}),
        integration_active=row.integracao_ativa,
        effects_start=row.efeitos_data_inicio,
        settings=dict(row.configuracao or {}),
    )
