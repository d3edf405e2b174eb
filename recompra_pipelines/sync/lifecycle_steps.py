"""The daily campaign machinery of one organization x day (job `lifecycle_daily`, group `lifecycle`).

`run_rfm` scores the clients as of the end of the day; `create_lifecycle_interactions` turns
that day's segment entries and stays, and the next day's expiring cashback, birthdays and
recurrent days (`domain.lifecycle.acting_day`), into interactions through the same path as
purchases (`campaign_steps.create_interactions`): same keys, frequency rules, daily
cap, outbox and campaign cashback. Each trigger's event key is built by `domain.keys`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from recompra_pipelines.db import campaign_interactions as store
from recompra_pipelines.db import lifecycle_candidates as lifecycle_db
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.db.rfm import RfmCounts, analyse
from recompra_pipelines.domain.campaign_rules import Campaign, Trigger, in_segment
from recompra_pipelines.domain.campaign_triggers import (
    BIRTHDAY,
    CASHBACK_EXPIRING,
    RECURRENT,
    SEGMENT_ENTRY,
    SEGMENT_STAY,
    Firing,
    trigger_definition,
    trigger_kinds,
)
from recompra_pipelines.domain.keys import (
    birthday_event,
    expiring_event,
    recurrent_event,
    segment_entry_event,
    segment_stay_event,
)
from recompra_pipelines.domain.lifecycle import (
    acting_day,
    birthday_days,
    notice_window,
    permanence_due,
    recurs_on,
    trigger_time,
)
from recompra_pipelines.domain.vocabulary import CONSENT_SKIPS, SkipReason
from recompra_pipelines.sync.campaign_steps import create_interactions
from recompra_pipelines.sync.organizations import Organization, load_organization


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
        campaigns = store.active_campaigns(conn, org_id, trigger_kinds(Firing.DAILY))
        candidates: list[tuple[Campaign, Trigger]] = []
        for campaign in campaigns:
            candidates += _candidates(conn, org, campaign, day, at)
        inserted, granted = create_interactions(conn, org, candidates, now)
    reasons = [decision.skip_reason for _, decision in inserted]
    return LifecycleCounts(
        candidates=dict(Counter(c.trigger for c, _ in candidates)),
        interactions_created=reasons.count(None),
        skipped_frequency=reasons.count(SkipReason.FREQUENCY),
        skipped_daily_cap=reasons.count(SkipReason.DAILY_CAP),
        skipped_consent=sum(reason in CONSENT_SKIPS for reason in reasons),
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
    finder = CANDIDATE_FINDERS.get(campaign.trigger)
    if finder is None:
        raise ValueError(
            f"organization {org.id}, day {day}: campaign {campaign.title!r} has trigger"
            f" {campaign.trigger}, which fires daily but has no candidate finder"
            " (sync.lifecycle_steps.CANDIDATE_FINDERS)"
        )
    title = trigger_definition(campaign.trigger).interaction_title
    return [(campaign, trigger) for trigger in finder(conn, org, campaign, day, at, title)]


def _segment_entries(conn, org, campaign, day, at, title) -> list[Trigger]:
    rows = lifecycle_db.segment_entries(conn, org.id, day)
    return [
        _trigger(row, at, segment_entry_event(row.titulo, row.desde), title)
        for row in rows
        if in_segment(campaign, row.titulo)
    ]


def _segment_stays(conn, org, campaign, day, at, title) -> list[Trigger]:
    rows = lifecycle_db.segment_stays(conn, org.id, day)
    return [
        _trigger(row, at, segment_stay_event(row.titulo, row.desde), title)
        for row in rows
        if in_segment(campaign, row.titulo) and permanence_due(campaign, row.desde, day)
    ]


def _birthdays(conn, org, campaign, day, at, title) -> list[Trigger]:
    morning = acting_day(day)
    rows = lifecycle_db.born_on(conn, org.id, birthday_days(morning))
    return [_trigger(row, at, birthday_event(morning.year), title) for row in rows]


def _recurrent_days(conn, org, campaign, day, at, title) -> list[Trigger]:
    morning = acting_day(day)
    if not recurs_on(campaign, morning):
        return []
    rows = lifecycle_db.all_clients(conn, org.id)
    return [
        _trigger(row, at, recurrent_event(morning), title)
        for row in rows
        if in_segment(campaign, row.titulo)
    ]


def _trigger(row, at: datetime, key: str, title: str, **context) -> Trigger:
    return Trigger(
        client_id=row.id, time=at, key=key, title=title, context=_favourites(row) | context
    )


def _expiring(
    conn: sa.Connection,
    org: Organization,
    campaign: Campaign,
    day: date,
    at: datetime,
    title: str,
) -> list[Trigger]:
    """Per client: Σ of what is left of its lots expiring within the notice (of the morning
    after ``day``); the relevant lot (and key) is the largest one, the earliest on ties
    (docs/business-rules.md#cashback-about-to-expire). No segmentation filter."""
    start, end = notice_window(campaign, acting_day(day), org.timezone)
    rows = lifecycle_db.expiring_lots(conn, org.id, start, end)
    return [
        _trigger(
            row,
            at,
            expiring_event(row.lote),
            title,
            cashbackExpirandoValor=str(row.total),
            cashbackExpirandoData=row.expiracao_data.astimezone(org.timezone).strftime("%d/%m/%Y"),
            cashbackTotalResgatadoVida=str(row.resgatado or "0.00"),
        )
        for row in rows
    ]


# How each daily trigger finds its clients; a trigger whose definition fires daily needs one.
CANDIDATE_FINDERS = {
    SEGMENT_ENTRY.kind: _segment_entries,
    SEGMENT_STAY.kind: _segment_stays,
    BIRTHDAY.kind: _birthdays,
    RECURRENT.kind: _recurrent_days,
    CASHBACK_EXPIRING.kind: _expiring,
}
