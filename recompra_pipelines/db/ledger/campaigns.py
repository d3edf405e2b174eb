"""Campaign cashback: granted once per interaction, and following its interaction and sale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from recompra_pipelines.db.ledger import books as ledger_books
from recompra_pipelines.db.ledger.books import Program, active_program, org_settings
from recompra_pipelines.db.ledger.reversals import (
    LedgerCounts,
    expired_part,
    not_reversed,
    reversal_attributes,
    reversible,
)
from recompra_pipelines.db.ordering import lot_key
from recompra_pipelines.domain.cashback import ZERO, ReversalReason, rate_amount
from recompra_pipelines.domain.keys import campaign_grant_key
from recompra_pipelines.domain.local_time import local_midnight
from recompra_pipelines.domain.parsing import quantize_money
from recompra_pipelines.domain.vocabulary import AmountType, LedgerEntryKind, SendStatus

# `metadados.ator` of a campaign's cashback.
CAMPAIGN = "CAMPANHA"


@dataclass(frozen=True)
class CampaignGrant:
    """One campaign cashback credit, due once per interaction
    (docs/business-rules.md#campaign-cashback).

    ``amount`` is the campaign's cashback already computed (``domain.cashback.rate_amount``
    for FIXO/PERCENTUAL of the sale); it is rounded once to centavos. ``expires_on`` is the
    organization-local day whose expiry run writes the lot off (``None``: never). With
    ``sale_id`` the lot is tied to that sale and reversed with it if it is cancelled.
    """

    client_id: UUID
    campaign_id: UUID
    interaction_id: UUID
    amount: Decimal
    expires_on: date | None
    sale_id: UUID | None = None
    # The sale's content revision the amount was decided on (a PERCENTUAL of its value).
    sale_content_revision: int = 0

    @property
    def key(self) -> str:
        return campaign_grant_key(self.campaign_id, self.interaction_id, self.sale_content_revision)


def grant_campaign_cashbacks(
    conn: sa.Connection,
    org_id: str,
    grants: Sequence[CampaignGrant],
    now: datetime | None = None,
) -> list[UUID | None]:
    """Credit campaign cashback, once per interaction: one pass for any number of grants.

    Returns, per grant, the ACÚMULO entry's id — the same id when granted again for the same
    interaction — or ``None`` when nothing is due: no active program, an amount that rounds
    to zero, or a sale that is not valid. Grants are applied in the order given, so each
    client's entries (and their balances before/after) come out as one grant after the
    other would write them. The caller's transaction should hold the organization lock (the
    campaign steps do); the clients' balance rows are locked here, in id order.
    """
    now = now or datetime.now(UTC)
    if not grants:
        return []
    granted = _granted_already(conn, org_id, grants)
    program = active_program(conn, org_id)
    due, sales = _due_grants(conn, org_id, grants, granted, program)
    if not due:
        return [granted.get(grant.key) for grant in grants]
    timezone, _ = org_settings(conn, org_id)
    accounts = {(program.id, grant.client_id) for grant, _ in due}
    ledger_books.ensure_balances(conn, org_id, accounts)
    books = ledger_books.open_books(conn, org_id, accounts, lots_for=())
    for grant, amount in due:
        if grant.key in granted:
            continue  # the same interaction twice in one batch: granted once
        attributes: dict[str, Any] = {
            "chave_idempotencia": grant.key,
            "campanha_id": grant.campaign_id,
            "metadados": {"ator": CAMPAIGN, "interacao_id": str(grant.interaction_id)},
            "data_efetivacao": now,
        }
        if grant.sale_id is not None:
            sale = sales[grant.sale_id]
            attributes |= {
                "venda_id": grant.sale_id,
                "venda_valor": sale.valor_total,
                "venda_revisao": sale.validade_revisao,
                "venda_conteudo_revisao": sale.conteudo_revisao,
            }
        entry = books[(program.id, grant.client_id)].accrue(
            amount,
            expires_at=None
            if grant.expires_on is None
            else local_midnight(grant.expires_on, timezone),
            effective_at=now,
            attributes=attributes,
        )
        granted[grant.key] = entry.id
    ledger_books.write_books(conn, org_id, books, now)
    return [granted.get(grant.key) for grant in grants]


def _granted_already(
    conn: sa.Connection, org_id: str, grants: Sequence[CampaignGrant]
) -> dict[str, UUID]:
    """The entry id of each grant already in the ledger, by key."""
    return dict(
        conn.execute(
            sa.text(
                "SELECT chave_idempotencia, id FROM cashback_program_transactions "
                "WHERE organizacao_id = :org AND chave_idempotencia = ANY(:keys)"
            ),
            {"org": org_id, "keys": [grant.key for grant in grants]},
        ).all()
    )


def _due_grants(
    conn: sa.Connection,
    org_id: str,
    grants: Sequence[CampaignGrant],
    granted: dict[str, UUID],
    program: Program | None,
) -> tuple[list[tuple[CampaignGrant, Decimal]], dict[UUID, Any]]:
    """The grants still due with their rounded amounts (not granted yet, more than zero, and
    of a valid sale when tied to one), and those sales by id."""
    due = [
        (grant, amount)
        for grant in grants
        if program is not None
        and grant.key not in granted
        and (amount := quantize_money(grant.amount)) > 0
    ]
    sale_ids = sorted({grant.sale_id for grant, _ in due if grant.sale_id is not None}, key=str)
    if not sale_ids:
        return due, {}
    sales = {
        row.id: row
        for row in conn.execute(
            sa.text(
                "SELECT id, valor_total, validade_revisao, conteudo_revisao FROM sales"
                " WHERE organizacao_id = :org"
                " AND id = ANY(:ids) AND valida AND NOT cancelada"
            ),
            {"org": org_id, "ids": sale_ids},
        )
    }
    return [(g, amount) for g, amount in due if g.sale_id is None or g.sale_id in sales], sales


# The day's sale-tied campaign cashback that no longer holds while its sale stays valid:
# its interaction was withdrawn because the sale changed, or the sale's value was edited
# and the campaign gives a percentage of it.
_STALE_CAMPAIGN_GRANTS = sa.text(
    f"""
    SELECT t.id, t.programa_id, t.cliente_id, t.valor, t.valor_restante, t.status,
           t.venda_id, t.venda_valor, t.venda_revisao, t.campanha_id, t.expiracao_data,
           t.data_efetivacao, t.metadados->>'interacao_id' AS interacao_id,
           p.cancelamento_consumido_politica AS politica,
           s.valor_total, s.validade_revisao, s.conteudo_revisao,
           c.cashback_geracao_tipo, c.cashback_geracao_valor,
           CASE WHEN i.status_envio = '{SendStatus.SKIPPED}' AND i.erro_codigo = :withdrawn_code
                THEN :withdrawn ELSE :edited END AS motivo,
           {expired_part("t.id")} AS expirado
    FROM cashback_program_transactions t
    JOIN sales s ON s.organizacao_id = t.organizacao_id AND s.id = t.venda_id
    JOIN cashback_programs p ON p.organizacao_id = t.organizacao_id AND p.id = t.programa_id
    JOIN campaigns c ON c.organizacao_id = t.organizacao_id AND c.id = t.campanha_id
    LEFT JOIN interactions i
      ON i.organizacao_id = t.organizacao_id AND i.id = CAST(t.metadados->>'interacao_id' AS uuid)
    WHERE t.organizacao_id = :org AND s.data_referencia = :day
      AND t.tipo = '{LedgerEntryKind.ACCRUAL}'
      AND s.valida AND NOT s.cancelada AND t.venda_revisao = s.validade_revisao
      AND {not_reversed("t")}
      AND ((i.status_envio = '{SendStatus.SKIPPED}' AND i.erro_codigo = :withdrawn_code)
           OR (COALESCE(t.venda_conteudo_revisao, 0) <> s.conteudo_revisao
               AND c.cashback_geracao_ativo AND c.cashback_geracao_tipo = '{AmountType.PERCENT}'))
    ORDER BY t.data_efetivacao, {lot_key("t", "s", "c")}, t.id
    """
)


def reconcile_campaign_grants(
    conn: sa.Connection, org_id: str, day: date, now: datetime, withdrawn_code: str
) -> LedgerCounts:
    """Campaign cashback follows its interaction and its sale (the campaign step calls this
    after withdrawing the interactions the day's sales no longer qualify for, recorded with
    ``withdrawn_code``): a withdrawn interaction's cashback is reversed; a PERCENTUAL one
    whose sale the ERP edited is decided again on the new value (``Book.revise``), keyed by
    the sale's content revision. Cancelled, revised or removed sales are the sales
    reconciliation's. The caller holds the organization lock."""
    stale = conn.execute(
        _STALE_CAMPAIGN_GRANTS,
        {
            "org": org_id,
            "day": day,
            "withdrawn_code": withdrawn_code,
            "withdrawn": ReversalReason.INTERACTION_WITHDRAWN.value,
            "edited": ReversalReason.SALE_EDITED.value,
        },
    ).all()
    counts = LedgerCounts()
    if not stale:
        return counts
    accounts = {(r.programa_id, r.cliente_id) for r in stale}
    books = ledger_books.open_books(conn, org_id, accounts, lots_for=accounts)
    for r in stale:
        book = books[(r.programa_id, r.cliente_id)]
        new_amount = (
            rate_amount(r.cashback_geracao_tipo, r.cashback_geracao_valor, r.valor_total)
            if r.motivo == ReversalReason.SALE_EDITED
            else ZERO
        )
        if new_amount <= 0:
            counts.add_reversal(book.reverse(reversible(r), r.politica, reversal_attributes(r)))
            continue
        reversal, _ = book.revise(
            reversible(r),
            new_amount,
            r.politica,
            reversal=reversal_attributes(r),
            accrual=_revised_grant_attributes(r),
            expires_at=r.expiracao_data,
            effective_at=r.data_efetivacao,
        )
        counts.add_revision(reversal, new_amount)
    ledger_books.write_books(conn, org_id, books, now)
    return counts


def _revised_grant_attributes(row) -> dict[str, Any]:
    """The replacement of a campaign's cashback whose sale the ERP edited, keyed by the sale's
    new content revision."""
    return {
        "chave_idempotencia": campaign_grant_key(
            row.campanha_id, row.interacao_id, row.conteudo_revisao
        ),
        "campanha_id": row.campanha_id,
        "metadados": {"ator": CAMPAIGN, "interacao_id": row.interacao_id},
        "venda_id": row.venda_id,
        "venda_valor": row.valor_total,
        "venda_revisao": row.validade_revisao,
        "venda_conteudo_revisao": row.conteudo_revisao,
        "data_efetivacao": row.data_efetivacao,
    }


def grant_campaign_cashback(
    conn: sa.Connection,
    *,
    org_id: str,
    client_id: UUID,
    campaign_id: UUID,
    interaction_id: UUID,
    amount: Decimal,
    expires_on: date | None,
    sale_id: UUID | None = None,
    now: datetime | None = None,
) -> UUID | None:
    """One ``CampaignGrant`` through ``grant_campaign_cashbacks``: the entry's id, or ``None``."""
    grant = CampaignGrant(client_id, campaign_id, interaction_id, amount, expires_on, sale_id)
    return grant_campaign_cashbacks(conn, org_id, [grant], now)[0]
