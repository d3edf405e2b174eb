"""The clients a lifecycle campaign trigger considers on a day, read with bound parameters:
segment entries and stays of the day's RFM, birthdays, every client (recurrent campaigns), and
each client's relevant expiring cashback lot. Each row carries the client's favourite product
and group, which the templates may use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa

from recompra_pipelines.db.ordering import lot_key, lot_origin

_CLIENTS = """
SELECT c.id, c.analise_rfm_titulo AS titulo, c.analise_rfm_titulo_anterior AS anterior,
       c.analise_rfm_desde AS desde, p.descricao AS produto, c.metadata_grupo_mais_comprado AS grupo
FROM clients c LEFT JOIN products p ON p.id = c.metadata_produto_mais_comprado_id
WHERE c.organizacao_id = :org
"""
_BY_CLIENT = " ORDER BY c.id"

_SEGMENT_ENTRIES = sa.text(
    _CLIENTS + " AND c.analise_rfm_data_referencia = :day AND c.analise_rfm_desde = :day"
    " AND c.analise_rfm_titulo_anterior IS NOT NULL" + _BY_CLIENT
)
_SEGMENT_STAYS = sa.text(
    _CLIENTS
    + " AND c.analise_rfm_data_referencia = :day AND c.analise_rfm_desde < :day"
    + _BY_CLIENT
)
_BORN_ON = sa.text(
    _CLIENTS
    + """ AND (CAST(EXTRACT(MONTH FROM c.data_nascimento) AS integer),
               CAST(EXTRACT(DAY FROM c.data_nascimento) AS integer))
          IN (SELECT m, d FROM unnest(CAST(:months AS integer[]), CAST(:days AS integer[]))
                               AS birthday(m, d))"""
    + _BY_CLIENT
)
_ALL_CLIENTS = sa.text(_CLIENTS + _BY_CLIENT)


def segment_entries(conn: sa.Connection, org_id: str, day: date) -> list[sa.Row]:
    """Clients whose segment as of `day` is new that day (a previous one existed)."""
    return conn.execute(_SEGMENT_ENTRIES, {"org": org_id, "day": day}).all()


def segment_stays(conn: sa.Connection, org_id: str, day: date) -> list[sa.Row]:
    """Clients scored on `day` who were already in their segment before it."""
    return conn.execute(_SEGMENT_STAYS, {"org": org_id, "day": day}).all()


def born_on(
    conn: sa.Connection, org_id: str, month_days: Sequence[tuple[int, int]]
) -> list[sa.Row]:
    """Clients whose birthday (month, day) is one of `month_days`."""
    return conn.execute(
        _BORN_ON,
        {
            "org": org_id,
            "months": [month for month, _ in month_days],
            "days": [day for _, day in month_days],
        },
    ).all()


def all_clients(conn: sa.Connection, org_id: str) -> list[sa.Row]:
    return conn.execute(_ALL_CLIENTS, {"org": org_id}).all()


_EXPIRING = f"""
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


def expiring_lots(conn: sa.Connection, org_id: str, start: datetime, end: datetime) -> list[sa.Row]:
    """Per client with active lots expiring in (`start`, `end`]: the relevant lot (the largest
    remaining, the earliest on ties), the total left of those lots and the lifetime redeemed."""
    return conn.execute(sa.text(_EXPIRING), {"org": org_id, "start": start, "end": end}).all()
