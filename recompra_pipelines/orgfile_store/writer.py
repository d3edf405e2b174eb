"""Creating and updating organizations from org files, idempotently."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.db.tables.sync import organizations
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.engagement_writer import apply_engagement


def apply_org_file(conn: sa.Connection, org: OrgFile) -> bool:
    """Create or update the organization and its engagement config; True when it was created.

    Re-applying the same file writes nothing. The integration's activation time is set the
    first time it is active, and the effects start defaults to the local day of that activation.
    """
    lock_organization(conn, org.id)
    current = conn.execute(sa.select(organizations).where(organizations.c.id == org.id)).first()
    integration = org.integration
    active = bool(integration and integration.active)
    activated_at = (current.integracao_data_ativacao if current else None) or (
        datetime.now(UTC) if active else None
    )
    effects_start = org.effects_start or (current.efeitos_data_inicio if current else None)
    if effects_start is None and activated_at is not None:
        effects_start = _local_day(activated_at, org.timezone)
    desired = {
        "nome": org.name,
        "fuso_horario": org.timezone,
        "integracao_tipo": integration.type if integration else None,
        "integracao_configuracao": integration.stored_config() if integration else {},
        "integracao_ativa": active,
        "integracao_data_ativacao": activated_at,
        "efeitos_data_inicio": effects_start,
        "configuracao": _settings(current.configuracao if current else None, org),
    }
    if current is None:
        conn.execute(sa.insert(organizations).values(id=org.id, **desired))
    else:
        changed = {
            name: value for name, value in desired.items() if getattr(current, name) != value
        }
        if changed:
            conn.execute(
                sa.update(organizations)
                .where(organizations.c.id == org.id)
                .values(**changed, data_atualizacao=sa.func.now())
            )
    apply_engagement(conn, org.id, org)
    return current is None


def _settings(stored: dict | None, org: OrgFile) -> dict:
    """``organizations.configuracao``: what the file declares, over what else is stored
    there (keys the file does not own are kept)."""
    settings = {
        **(stored or {}),
        "campanhas": org.campaign_settings.stored(),
        "rfm": org.rfm_thresholds.stored() if org.rfm_thresholds else None,
    }
    if org.whatsapp is not None:
        settings["whatsapp"] = {
            **(settings.get("whatsapp") or {}),
            "consentimento": org.whatsapp.consent.settings().stored(),
        }
    return settings


def _local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()
