"""The daily campaign machinery of one organization x day (job `lifecycle_daily`, group `lifecycle`).

`run_rfm` scores the clients as of the end of the day; `create_lifecycle_interactions` turns
that day's segment entries and stays, and the next day's expiring cashback, birthdays and
recurrent days (`domain.lifecycle.acting_day`), into interactions through the same path as
purchases (`campaign_steps.create_interactions`): same keys, frequency rules, daily
cap, outbox and campaign cashback. Trigger keys: `segmento:<label>:<since>`,
`permanencia:<label>:<since>`, `expira:<lot>`, `aniversario:<yyyy>`, `recorrente:<yyyy-mm-dd>`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from recompra_pipelines.db import campaign_interactions as store
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.db.ordering import lot_key, lot_origin
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


def lifecycle_hour() -> int:
    """Local hour after which a day's lifecycle run starts (``RECOMPRA_LIFECYCLE_HOUR``, 2)."""
    return int(os.environ.get("RECOMPRA_LIFECYCLE_HOUR", "2"))


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
    engine: sa.Engine, org_id: str, day: date, now: datetime, hour: int | None = None
) -> LifecycleCounts:
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        org = load_organization(conn, org_id)
        at = trigger_time(day, lifecycle_hour() if hour is None else hour, org.timezone)
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


CLIENTS = """
SELECT c.id, c.analise_rfm_titulo AS titulo, c.analise_rfm_titulo_anterior AS anterior,
       c.analise_rfm_desde AS desde, p.descricao AS produto, c.metadata_grupo_mais_comprado AS grupo
FROM clients c LEFT JOIN products p ON p.id = c.metadata_produto_mais_comprado_id
WHERE c.organizacao_id = :org AND {where}
ORDER BY c.id
"""


def _clients(conn: sa.Connection, org_id: str, where: str, **params) -> list:
    return conn.execute(sa.text(CLIENTS.format(where=where)), {"org": org_id, **params}).all()


def _candidates(
    conn: sa.Connection, org: Organization, campaign: Campaign, day: date, at: datetime
) -> list[tuple[Campaign, Trigger]]:
    """``day`` is the scored day (segment entries and stays); the calendar triggers are of the
    morning after it, when the run acts."""
    kind = campaign.trigger
    morning = acting_day(day)
    if kind == "ENTRADA-SEGMENTAÇÃO":
        rows = _clients(
            conn,
            org.id,
            "c.analise_rfm_data_referencia = :day AND c.analise_rfm_desde = :day"
            " AND c.analise_rfm_titulo_anterior IS NOT NULL",
            day=day,
        )
        return [
            (campaign, _trigger(row, at, f"segmento:{row.titulo}:{row.desde}", ENTRY_TITLE))
            for row in rows
            if in_segment(campaign, row.titulo)
        ]
    if kind == "PERMANÊNCIA-SEGMENTAÇÃO":
        rows = _clients(
            conn,
            org.id,
            "c.analise_rfm_data_referencia = :day AND c.analise_rfm_desde < :day",
            day=day,
        )
        return [
            (campaign, _trigger(row, at, f"permanencia:{row.titulo}:{row.desde}", ENTRY_TITLE))
            for row in rows
            if in_segment(campaign, row.titulo) and permanence_due(campaign, row.desde, day)
        ]
    if kind == "ANIVERSARIO_CLIENTE":
        days = birthday_days(morning)
        rows = _clients(
            conn,
            org.id,
            "(EXTRACT(MONTH FROM c.data_nascimento), EXTRACT(DAY FROM c.data_nascimento))"
            " IN (" + ", ".join(f"({m}, {d})" for m, d in days) + ")",
        )
        return [
            (campaign, _trigger(row, at, f"aniversario:{morning.year}", BIRTHDAY_TITLE))
            for row in rows
        ]
    if kind == "RECORRENTE":
        if not recurs_on(campaign, morning):
            return []
        rows = _clients(conn, org.id, "true")
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


EXPIRING = f"""
WITH lots AS (
    SELECT t.id, t.cliente_id, t.valor_restante, t.expiracao_data,
           row_number() OVER (PARTITION BY t.cliente_id
                              ORDER BY t.valor_restante DESC, t.expiracao_data,
                                       {lot_key("t", "s", "ca")}, t.id) AS ordem,
           sum(t.valor_restante) OVER (PARTITION BY t.cliente_id) AS total
    FROM cashback_program_transactions t
    JOIN cashback_programs p ON p.id = t.programa_id AND p.ativo
    {lot_origin("t")}
    WHERE t.organizacao_id = :org AND t.tipo = 'ACÚMULO' AND t.status = 'ATIVO'
      AND t.valor_restante > 0 AND t.expiracao_data > :start AND t.expiracao_data <= :end
)
SELECT l.id AS lote, l.cliente_id AS id, l.total, l.expiracao_data,
       b.saldo_valor_resgatado_total AS resgatado, p.descricao AS produto,
       c.metadata_grupo_mais_comprado AS grupo
FROM lots l
JOIN clients c ON c.id = l.cliente_id
LEFT JOIN products p ON p.id = c.metadata_produto_mais_comprado_id
LEFT JOIN cashback_program_balances b ON b.organizacao_id = :org AND b.cliente_id = l.cliente_id
 AND b.programa_id = (SELECT id FROM cashback_programs WHERE organizacao_id = :org AND ativo LIMIT 1)
WHERE l.ordem = 1
ORDER BY l.cliente_id
"""


def _expiring(
    conn: sa.Connection, org: Organization, campaign: Campaign, day: date, at: datetime
) -> list[Trigger]:
    """Per client: Σ of what is left of its lots expiring within the notice; the relevant lot
    (and key) is the largest one, the earliest on ties
    (docs/business-rules.md#cashback-about-to-expire). No segmentation filter."""
    start, end = notice_window(campaign, day, org.timezone)
    rows = conn.execute(sa.text(EXPIRING), {"org": org.id, "start": start, "end": end}).all()
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
