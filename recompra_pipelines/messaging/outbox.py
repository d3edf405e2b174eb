"""The interactions table as the WhatsApp outbox (docs/whatsapp.md#the-outbox): claim, then record
the outcome.

States: PENDENTE → ENVIANDO (claimed) → ENVIADO (wamid) | FALHOU (code) | IGNORADO (reason),
or back to PENDENTE with a later ``envio_proxima_tentativa_data`` (retry, recipient limit,
quiet hours, a suspended number). Claims use ``FOR UPDATE SKIP LOCKED`` and commit before any
HTTP call, so parallel dispatchers never take the same row.

Just before a request leaves, the dispatcher records the attempt under its claim
(``envio_tentativa_iniciada_data``, a compare-and-set on the claim). That splits the rows a
dispatcher can leave in ENVIANDO when it dies: a claim never attempted is certainly unsent,
and is released back to PENDENTE once older than the claim bound (a live dispatcher whose
claim was released finds it gone and skips it); an attempt with no recorded answer, or a
timeout after the request was written (``erro_codigo = RESULTADO_DESCONHECIDO``), may have been
delivered, so it is never claimed again: it waits for reconciliation: the status webhook's
``biz_opaque_callback_data`` carries the interaction id and resolves it (messaging.delivery);
if no status comes, the ``whatsapp_no_stuck_sends`` check pages someone.

These are short transactions of their own, without the organization's advisory lock: a
dispatcher must not hold the sync back while it waits on Meta.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from recompra_pipelines.credentials import from_env
from recompra_pipelines.db.outbox import UNKNOWN_RESULT, claim_due
from recompra_pipelines.domain.vocabulary import SendStatus
from recompra_pipelines.domain.whatsapp_consent import ConsentSettings, ContactState
from recompra_pipelines.domain.whatsapp_dispatch import ConnectionType
from recompra_pipelines.messaging.gateway import GatewayConnection


@dataclass(frozen=True)
class ClaimedSend:
    """A claimed interaction with everything needed to build and send its message."""

    interaction_id: UUID
    organization_id: str
    # The claim's own mark: updates of the row apply only while the claim is still this one.
    claimed_at: datetime
    attempts: int  # attempts made before this one
    client_id: UUID
    client_name: str
    client_phone: str | None
    client_phone_e164: str | None
    client_email: str | None
    client_segmentation: str | None
    # The client's favourite product and group (the nightly RFM's, else, for a client not
    # analysed yet, the most bought of its valid purchases) and lifetime redeemed cashback:
    # what a template variable takes when the interaction's context has none.
    client_favourite_product: str | None
    client_favourite_group: str | None
    client_cashback_redeemed: Any
    context: dict[str, Any] | None
    template: Any | None  # whatsapp_templates row
    connection_id: UUID | None
    phone_number_id: str | None  # Cloud API connections
    token: str | None = field(repr=False)
    gateway: GatewayConnection | None  # internal-gateway connections
    chat_hub: bool
    # What WhatsApp told us about the client's phone (None: nothing), and the organization's
    # consent settings, checked again right before sending.
    contact: ContactState | None
    consent: ConsentSettings

    @property
    def sender(self) -> str | None:
        """Who sends, as the throughput limits know it: the Cloud API number, or the gateway
        session."""
        return self.gateway.session_id if self.gateway else self.phone_number_id


def claim(
    conn: sa.Connection, org_id: str, now: datetime, *, limit: int, immediate_only: bool
) -> list[ClaimedSend]:
    """Mark up to ``limit`` due interactions ENVIANDO (oldest due first) and load their
    client, template and connection. Commit before sending."""
    ids = claim_due(conn, org_id, now, limit=limit, immediate_only=immediate_only)
    if not ids:
        return []
    rows = conn.execute(
        sa.text(
            """
            SELECT i.id, i.organizacao_id, i.envio_tentativas, i.metadados, i.cliente_id,
                   c.nome, c.telefone, c.telefone_e164, c.email, c.analise_rfm_titulo,
                   COALESCE(fp.descricao, bought.descricao) AS produto_favorito,
                   CASE WHEN fp.id IS NOT NULL THEN c.metadata_grupo_mais_comprado
                        ELSE bought.grupo END AS grupo_favorito,
                   b.saldo_valor_resgatado_total AS cashback_resgatado,
                   t.id AS template_id, t.nome AS t_nome, t.idioma, t.parametros_formato,
                   t.parametros, t.corpo_texto, t.cabecalho_tipo, t.cabecalho_midia_url,
                   t.status AS t_status, t.categoria AS t_categoria,
                   w.id AS connection_id, w.tipo AS connection_type, w.whatsapp_telefone_id,
                   w.token, w.token_env, w.gateway_url, w.gateway_sessao_id,
                   w.gateway_segredo_env,
                   COALESCE((o.configuracao #>> '{recursos,hubAtendimentos,acesso}')::boolean,
                            false) AS chat_hub,
                   o.configuracao, k.descadastrado, k.inalcancavel_desde
            FROM interactions i
            JOIN organizations o ON o.id = i.organizacao_id
            JOIN clients c ON c.id = i.cliente_id AND c.organizacao_id = i.organizacao_id
            LEFT JOIN products fp ON fp.id = c.metadata_produto_mais_comprado_id
            LEFT JOIN LATERAL (
                SELECT p.descricao, p.grupo
                FROM sales s JOIN sale_items si ON si.venda_id = s.id
                JOIN products p ON p.id = si.produto_id
                WHERE s.organizacao_id = i.organizacao_id AND s.cliente_id = c.id AND s.valida
                GROUP BY p.id ORDER BY sum(si.quantidade) DESC, p.id LIMIT 1
            ) bought ON c.metadata_produto_mais_comprado_id IS NULL
            LEFT JOIN cashback_program_balances b
                 ON b.organizacao_id = i.organizacao_id AND b.cliente_id = c.id
                AND b.programa_id = (SELECT p.id FROM cashback_programs p
                                     WHERE p.organizacao_id = i.organizacao_id AND p.ativo)
            LEFT JOIN whatsapp_contatos k
                 ON k.organizacao_id = i.organizacao_id AND k.telefone_e164 = c.telefone_e164
            LEFT JOIN campaigns ca ON ca.id = i.campanha_id
            LEFT JOIN whatsapp_templates t ON t.organizacao_id = i.organizacao_id
                 AND t.id = COALESCE(i.whatsapp_template_id, ca.whatsapp_template_id)
            LEFT JOIN LATERAL (
                SELECT w.* FROM whatsapp_connections w
                WHERE w.organizacao_id = i.organizacao_id AND w.ativo
                  AND (w.id = ca.whatsapp_conexao_id OR ca.whatsapp_conexao_id IS NULL)
                ORDER BY w.id = ca.whatsapp_conexao_id DESC NULLS LAST, w.data_insercao,
                         w.whatsapp_telefone_id
                LIMIT 1
            ) w ON true
            WHERE i.organizacao_id = :org AND i.id = ANY(:ids)
            ORDER BY i.id
            """
        ),
        {"org": org_id, "ids": list(ids)},
    ).all()
    return [_claimed(row, now) for row in rows]


def _claimed(row: Any, claimed_at: datetime) -> ClaimedSend:
    template = None
    if row.template_id is not None:
        template = _TemplateRow(
            id=row.template_id,
            nome=row.t_nome,
            idioma=row.idioma,
            parametros_formato=row.parametros_formato,
            parametros=row.parametros,
            corpo_texto=row.corpo_texto,
            cabecalho_tipo=row.cabecalho_tipo,
            cabecalho_midia_url=row.cabecalho_midia_url,
            status=row.t_status,
            categoria=row.t_categoria,
        )
    return ClaimedSend(
        interaction_id=row.id,
        organization_id=row.organizacao_id,
        claimed_at=claimed_at,
        attempts=row.envio_tentativas,
        client_id=row.cliente_id,
        client_name=row.nome,
        client_phone=row.telefone,
        client_phone_e164=row.telefone_e164,
        client_email=row.email,
        client_segmentation=row.analise_rfm_titulo,
        client_favourite_product=row.produto_favorito,
        client_favourite_group=row.grupo_favorito,
        client_cashback_redeemed=row.cashback_resgatado,
        context=row.metadados,
        template=template,
        connection_id=row.connection_id,
        phone_number_id=row.whatsapp_telefone_id,
        token=_token(row),
        gateway=(
            GatewayConnection(row.gateway_url, row.gateway_sessao_id, row.gateway_segredo_env)
            if row.connection_type == ConnectionType.INTERNAL_GATEWAY
            else None
        ),
        chat_hub=row.chat_hub,
        contact=(
            None
            if row.descadastrado is None
            else ContactState(row.descadastrado, row.inalcancavel_desde)
        ),
        consent=ConsentSettings.parse(row.configuracao),
    )


def _token(row: Any) -> str | None:
    """The connection's token: stored, or read from the environment variable it names (a
    variable that is not set fails the claim's transaction: nothing stays claimed)."""
    if row.token or not row.token_env:
        return row.token
    return from_env(row.token_env, what=f"WhatsApp connection {row.whatsapp_telefone_id} token_env")


@dataclass(frozen=True)
class _TemplateRow:
    id: UUID
    nome: str
    idioma: str
    parametros_formato: str
    parametros: list
    corpo_texto: str
    cabecalho_tipo: str | None
    cabecalho_midia_url: str | None
    status: str
    categoria: str


def _finish(conn: sa.Connection, send: ClaimedSend, **values: Any) -> bool:
    """Update a row this dispatcher claimed; False if the claim is no longer ours (it expired
    unattempted and was released)."""
    return (
        conn.execute(
            sa.text(
                "UPDATE interactions SET "
                + ", ".join(f"{name} = :{name}" for name in values)
                + ", data_atualizacao = now() WHERE organizacao_id = :org AND id = :id"
                " AND status_envio = 'ENVIANDO' AND envio_reservado_data = :claimed_at"
            ),
            {
                "org": send.organization_id,
                "id": send.interaction_id,
                "claimed_at": send.claimed_at,
                **values,
            },
        ).rowcount
        == 1
    )


def start_attempt(conn: sa.Connection, send: ClaimedSend, now: datetime) -> bool:
    """Record, under the claim, that the request is about to leave. False when the claim is no
    longer ours: then the request must not be sent."""
    return _finish(conn, send, envio_tentativa_iniciada_data=now)


# Why an attempt with no recorded answer stays unknown when its claim expires.
DIED_DURING_REQUEST = "the dispatcher stopped during the request; it may have been delivered"


def release_expired_claims(
    conn: sa.Connection, org_id: str, now: datetime, claim_expiry: timedelta
) -> tuple[int, int]:
    """Claims older than `claim_expiry` whose dispatcher died: (released, made unknown).

    Never attempted: back to PENDENTE, due again, no attempt used (certainly unsent).
    Attempted with no answer recorded: RESULTADO_DESCONHECIDO, never re-sent blindly.
    """
    expired = (
        "organizacao_id = :org AND status_envio = 'ENVIANDO'"
        " AND envio_reservado_data < CAST(:now AS timestamptz) - :expiry"
    )
    params = {"org": org_id, "now": now, "expiry": claim_expiry}
    released = conn.execute(
        sa.text(
            f"""UPDATE interactions SET status_envio = 'PENDENTE', envio_reservado_data = NULL,
                data_atualizacao = now()
            WHERE {expired} AND envio_tentativa_iniciada_data IS NULL
              AND erro_codigo IS DISTINCT FROM '{UNKNOWN_RESULT}'"""
        ),
        params,
    ).rowcount
    unknown = conn.execute(
        sa.text(
            f"""UPDATE interactions SET erro_codigo = '{UNKNOWN_RESULT}', erro_envio = :why,
                data_atualizacao = now()
            WHERE {expired} AND envio_tentativa_iniciada_data IS NOT NULL
              AND erro_codigo IS NULL"""
        ),
        {**params, "why": DIED_DURING_REQUEST},
    ).rowcount
    return released, unknown


def mark_sent(
    conn: sa.Connection, send: ClaimedSend, wamid: str, now: datetime, template_id: UUID
) -> bool:
    """WhatsApp accepted the message. A status webhook may have recorded it first (Meta can
    answer the webhook before our commit): then its status, times and error stand, and only
    what the send alone knows (attempts, template, when we sent) is added."""
    return (
        conn.execute(
            sa.text(
                """UPDATE interactions SET
                    status_envio = CASE WHEN status_envio = 'ENVIANDO' THEN 'ENVIADO'
                                        ELSE status_envio END,
                    erro_codigo = CASE WHEN status_envio = 'ENVIANDO' THEN NULL
                                       ELSE erro_codigo END,
                    erro_envio = CASE WHEN status_envio = 'ENVIANDO' THEN NULL
                                      ELSE erro_envio END,
                    whatsapp_message_id = COALESCE(whatsapp_message_id, :wamid),
                    whatsapp_template_id = :template, envio_tentativas = :attempts,
                    envio_reservado_data = NULL, envio_proxima_tentativa_data = NULL,
                    data_envio = :now, data_execucao = LEAST(data_execucao, :now),
                    data_atualizacao = now()
                WHERE organizacao_id = :org AND id = :id
                  AND (status_envio = 'ENVIANDO' OR whatsapp_message_id = :wamid)"""
            ),
            {
                "org": send.organization_id,
                "id": send.interaction_id,
                "wamid": wamid,
                "template": template_id,
                "attempts": send.attempts + 1,
                "now": now,
            },
        ).rowcount
        == 1
    )


def mark_failed(
    conn: sa.Connection, send: ClaimedSend, code: str, reason: str, *, attempted: bool
) -> bool:
    return _finish(
        conn,
        send,
        status_envio=SendStatus.FAILED,
        erro_codigo=code,
        erro_envio=reason,
        envio_tentativas=send.attempts + (1 if attempted else 0),
        envio_reservado_data=None,
    )


def mark_skipped(conn: sa.Connection, send: ClaimedSend, code: str, reason: str) -> bool:
    return _finish(
        conn,
        send,
        status_envio=SendStatus.SKIPPED,
        erro_codigo=code,
        erro_envio=reason,
        envio_reservado_data=None,
    )


def mark_retry(
    conn: sa.Connection,
    send: ClaimedSend,
    code: str | None,
    reason: str | None,
    retry_at: datetime,
    *,
    attempted: bool,
) -> bool:
    """Back to PENDENTE for a later try; ``attempted`` is False for a pure deferral (recipient
    limit), which does not use up an attempt."""
    return _finish(
        conn,
        send,
        status_envio=SendStatus.PENDING,
        erro_codigo=code,
        erro_envio=reason,
        envio_tentativas=send.attempts + (1 if attempted else 0),
        envio_reservado_data=None,
        envio_tentativa_iniciada_data=None,
        envio_proxima_tentativa_data=retry_at,
    )


def mark_unknown(conn: sa.Connection, send: ClaimedSend, reason: str, now: datetime) -> bool:
    """The request left and no answer came: stays ENVIANDO, flagged, never re-sent blindly."""
    return _finish(
        conn,
        send,
        erro_codigo=UNKNOWN_RESULT,
        erro_envio=reason,
        envio_tentativas=send.attempts + 1,
        data_envio=now,
    )
