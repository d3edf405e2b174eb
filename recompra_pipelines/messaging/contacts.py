"""``whatsapp_contatos``: consent and reachability per organization and phone.

Every write is order-tolerant, because the webhooks that drive them arrive in any order and
more than once: consent keeps the state of the latest message (by the time the customer sent
it, then its id), a suppression keeps its latest 131026, and a lift only clears a suppression
older than the proof of reachability.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from recompra_pipelines.domain.whatsapp_consent import ConsentAction, ContactState

_RECORD_CONSENT = sa.text(
    """
    INSERT INTO whatsapp_contatos AS k (organizacao_id, telefone_e164, descadastrado,
        consentimento_data, consentimento_mensagem_id, consentimento_palavra)
    VALUES (:org, :phone, :opted_out, :at, :message_id, :keyword)
    ON CONFLICT (organizacao_id, telefone_e164) DO UPDATE
    SET descadastrado = EXCLUDED.descadastrado,
        consentimento_data = EXCLUDED.consentimento_data,
        consentimento_mensagem_id = EXCLUDED.consentimento_mensagem_id,
        consentimento_palavra = EXCLUDED.consentimento_palavra,
        data_atualizacao = now()
    WHERE k.consentimento_data IS NULL
       OR (k.consentimento_data, k.consentimento_mensagem_id)
          < (EXCLUDED.consentimento_data, EXCLUDED.consentimento_mensagem_id)
    """
)

_SUPPRESS = sa.text(
    """
    INSERT INTO whatsapp_contatos AS k (organizacao_id, telefone_e164, inalcancavel_desde)
    VALUES (:org, :phone, :at)
    ON CONFLICT (organizacao_id, telefone_e164) DO UPDATE
    SET inalcancavel_desde = EXCLUDED.inalcancavel_desde, data_atualizacao = now()
    WHERE k.inalcancavel_desde IS NULL OR k.inalcancavel_desde < EXCLUDED.inalcancavel_desde
    """
)

_LIFT = sa.text(
    """
    UPDATE whatsapp_contatos SET inalcancavel_desde = NULL, data_atualizacao = now()
    WHERE organizacao_id = :org AND telefone_e164 = :phone AND inalcancavel_desde < :at
    """
)


def record_consent(
    conn: sa.Connection,
    org_id: str,
    phone: str,
    action: ConsentAction,
    at: datetime,
    message_id: str,
    keyword: str,
) -> None:
    """Opt the phone out of (or back into) marketing, unless a later message decided it."""
    conn.execute(
        _RECORD_CONSENT,
        {
            "org": org_id,
            "phone": phone,
            "opted_out": action is ConsentAction.OPT_OUT,
            "at": at,
            "message_id": message_id,
            "keyword": keyword,
        },
    )


def suppress_unreachable(conn: sa.Connection, reports: Sequence[tuple[str, str, datetime]]) -> None:
    """Record Meta's 131026 for each (organization, phone, when)."""
    if reports:
        conn.execute(_SUPPRESS, [{"org": o, "phone": p, "at": at} for o, p, at in reports])


def lift_unreachable(conn: sa.Connection, proofs: Sequence[tuple[str, str, datetime]]) -> None:
    """A message delivered to, or received from, the phone after its 131026 lifts it."""
    if proofs:
        conn.execute(_LIFT, [{"org": o, "phone": p, "at": at} for o, p, at in proofs])


def client_contacts(
    conn: sa.Connection, org_id: str, client_ids: Sequence[Any]
) -> dict[Any, ContactState]:
    """What is recorded about each client's phone (clients without a record are absent)."""
    if not client_ids:
        return {}
    rows = conn.execute(
        sa.text(
            """
            SELECT c.id, k.descadastrado, k.inalcancavel_desde
            FROM clients c JOIN whatsapp_contatos k
              ON k.organizacao_id = c.organizacao_id AND k.telefone_e164 = c.telefone_e164
            WHERE c.organizacao_id = :org AND c.id = ANY(:clients)
            """
        ),
        {"org": org_id, "clients": list(client_ids)},
    ).all()
    return {row.id: ContactState(row.descadastrado, row.inalcancavel_desde) for row in rows}
