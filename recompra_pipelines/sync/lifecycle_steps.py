"""The daily campaign machinery of one organization x day (job `lifecycle_daily`, group `lifecycle`).

`run_rfm` scores the clients as of the end of the day; `create_lifecycle_interactions` turns
that day's segment entries and stays, and the next day's expiring cashback, birthdays and
recurrent days (`domain.lifecycle.acting_day`), into interactions through the same path as
purchases (`campaign_steps.create_interactions`): same keys, frequency rules, daily
cap, outbox and campaign cashback. Trigger keys: `segmento:<label>:<since>`,
`permanencia:<label>:<since>`, `expira:<lot>`, `aniversario:<yyyy>`, `recorrente:<yyyy-mm-dd>`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from recompra_pipelines.db import campaign_interactions as store
from recompra_pipelines.db import lifecycle_candidates as candidates
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.db.rfm import RfmCounts, analyse
from recompra_pipelines.domain.campaign_rules import Campaign, Trigger, in_segment
from recompra_pipelines.domain.lifecycle import (
    BIRTHDAY_TITLE,
    ENTRY_TITLE,
    EXPIRING_TITLE,
    RECURRENT_TITLE,
    acting_day,
    birthday_days,
    notice_window,
    permanence_due,
    recurs_on,
    trigger_time,
)
from recompra_pipelines.domain.whatsapp_consent import SKIP_OPT_OUT, SKIP_UNREACHABLE
from recompra_pipelines.sync.campaign_steps import create_interactions
from recompra_pipelines.sync.organizations import Organization, load_organization

LIFECYCLE_TRIGGERS = (
    "ENTRADA-SEGMENTAÇÃO",
    "PERMANÊNCIA-SEGMENTAÇÃO",
    "CASHBACK-EXPIRANDO",
    "ANIVERSARIO_CLIENTE",
    "RECORRENTE",
)


def run_rfm(engine: sa.Engine, org_id: str, day: date, now: datetime) -> RfmCounts:
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        org = load_organization(conn, org_id)
        return analyse(conn, org_id, day, org.settings.get("rfm"), now)


@dataclass(frozen=True)
class LifecycleCounts:
    candidates: dict[str, int]  # per trigger type
    interactions_created: int
    skipped_frequency: int
    skipped_daily_cap: int
    skipped_consent: int  # opted out, or the number is suppressed after a 131026
    cashback_grants: int


def create_lifecycle_interactions(
    engine: sa.Engine, org_id: str, day: date, now: datetime, *, hour: int
) -> LifecycleCounts:
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        org = load_organization(conn, org_id)
        at = trigger_time(day, hour, org.timezone)
        campaigns = store.active_campaigns(conn, org_id, LIFECYCLE_TRIGGERS)
        candidates: list[tuple[Campaign, Trigger]] = []
        for campaign in campaigns:
            candidates += _candidates(conn, org, campaign, day, at)
        inserted, granted = create_interactions(conn, org, candidates, now)
    reasons = [decision.skip_reason for _, decision in inserted]
    return LifecycleCounts(
        candidates=dict(Counter(c.trigger for c, _ in candidates)),
        interactions_created=reasons.count(None),
        skipped_frequency=reasons.count("FREQUENCIA"),
        skipped_daily_cap=reasons.count("LIMITE_DIARIO"),
        skipped_consent=reasons.count(SKIP_OPT_OUT) + reasons.count(SKIP_UNREACHABLE),
        cashback_grants=granted,
    )


def _favourites(row) -> dict[str, str]:
    return {
        "clienteProdutoMaisComprado": row.produto or "",
        "clienteGrupoProdutoMaisComprado": row.grupo or "",
    }


def _candidates(
    conn: sa.Connection, org: Organization, campaign: Campaign, day: date, at: datetime
) -> list[tuple[Campaign, Trigger]]:
    """``day`` is the scored day (segment entries and stays); the calendar triggers are of the
    morning after it, when the run acts."""
    kind = campaign.trigger
    morning = acting_day(day)
    if kind == "ENTRADA-SEGMENTAÇÃO":
        rows = candidates.segment_entries(conn, org.id, day)
        return [
            (campaign, _trigger(row, at, f"segmento:{row.titulo}:{row.desde}", ENTRY_TITLE))
            for row in rows
            if in_segment(campaign, row.titulo)
        ]
    if kind == "PERMANÊNCIA-SEGMENTAÇÃO":
        rows = candidates.segment_stays(conn, org.id, day)
        return [
            (campaign, _trigger(row, at, f"permanencia:{row.titulo}:{row.desde}", ENTRY_TITLE))
            for row in rows
            if in_segment(campaign, row.titulo) and permanence_due(campaign, row.desde, day)
        ]
    if kind == "ANIVERSARIO_CLIENTE":
        rows = candidates.born_on(conn, org.id, birthday_days(morning))
        return [
            (campaign, _trigger(row, at, f"aniversario:{morning.year}", BIRTHDAY_TITLE))
            for row in rows
        ]
    if kind == "RECORRENTE":
        if not recurs_on(campaign, morning):
            return []
        rows = candidates.all_clients(conn, org.id)
        return [
            (campaign, _trigger(row, at, f"recorrente:{morning.isoformat()}", RECURRENT_TITLE))
            for row in rows
            if in_segment(campaign, row.titulo)
        ]
    if kind == "CASHBACK-EXPIRANDO":
        return [(campaign, trigger) for trigger in _expiring(conn, org, campaign, morning, at)]
    return []


def _trigger(row, at: datetime, key: str, title: str, **context) -> Trigger:
    return Trigger(
        client_id=row.id, time=at, key=key, title=title, context=_favourites(row) | context
    )


def _expiring(
    conn: sa.Connection, org: Organization, campaign: Campaign, day: date, at: datetime
) -> list[Trigger]:
    """Per client: Σ of what is left of its lots expiring within the notice; the relevant lot
    (and key) is the largest one, the earliest on ties (facts §4.8). No segmentation filter."""
    start, end = notice_window(campaign, day, org.timezone)
    rows = candidates.expiring_lots(conn, org.id, start, end)
    return [
        _trigger(
            row,
            at,
            f"expira:{row.lote}",
            EXPIRING_TITLE,
            cashbackExpirandoValor=str(row.total),
            cashbackExpirandoData=row.expiracao_data.astimezone(org.timezone).strftime("%d/%m/%Y"),
            cashbackTotalResgatadoVida=str(row.resgatado or "0.00"),
        )
        for row in rows
    ]
