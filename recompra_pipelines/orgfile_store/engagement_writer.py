"""Writes the engagement part of an org file (cashback program, WhatsApp, campaigns).

Each function runs inside the caller's transaction and upserts on the natural keys with
``INSERT … ON CONFLICT DO UPDATE … WHERE <some column IS DISTINCT FROM the new value>``, so
applying the same file again rewrites no row (and fires no update trigger, bloats nothing).
What the file does not mention is left alone: templates and campaigns that are not listed
are neither deleted nor deactivated, since interactions, chats and ledger entries refer to
them. The one exception is the WhatsApp connection: the file declares *the* connection, so
other connections of the organization are deactivated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from recompra_pipelines.db.tables.campaigns import campaign_segmentations, campaigns
from recompra_pipelines.db.tables.cashback import cashback_programs
from recompra_pipelines.db.tables.messaging import whatsapp_connections, whatsapp_templates
from recompra_pipelines.orgfile.engagement import (
    CampaignConfig,
    CashbackProgramConfig,
    EngagementConfig,
    InternalGatewayConnectionConfig,
    Period,
    TemplateConfig,
    WhatsAppConfig,
)

_REVERSAL_POLICY = {"write_off": "BAIXA", "claw_back": "SALDO-NEGATIVO"}


class EngagementApplyError(ValueError):
    """The file is valid on its own but does not fit what the organization has stored."""


def apply_engagement(conn: sa.Connection, org_id: str, cfg: EngagementConfig) -> None:
    """Apply every engagement section present in the file, WhatsApp before the campaigns
    that use its templates."""
    if cfg.cashback_program is not None:
        apply_cashback_program(conn, org_id, cfg.cashback_program)
    if cfg.whatsapp is not None:
        apply_whatsapp(conn, org_id, cfg.whatsapp)
    apply_campaigns(conn, org_id, cfg.campaigns)


def apply_cashback_program(conn: sa.Connection, org_id: str, cfg: CashbackProgramConfig) -> None:
    """Create or update the organization's program.

    The file describes *the* program, so it updates the one the organization has (its active
    one, else the latest) instead of adding another: balances and lots stay attached to it.
    """
    table = cashback_programs
    values = {
        "acumulo_tipo": cfg.accrual_type,
        "acumulo_valor": cfg.accrual_value,
        "acumulo_valor_parceiro": cfg.partner_accrual_value,
        "acumulo_regra_valor_minimo": cfg.minimum_sale_value,
        "acumulo_permitir_via_integracao": cfg.allow_via_integration,
        "expiracao_regra_validade_valor": cfg.expiry_days,
        "resgate_limite_tipo": cfg.redemption_limit_type,
        "resgate_limite_valor": cfg.redemption_limit_value,
        "cancelamento_consumido_politica": _REVERSAL_POLICY[cfg.reversal_of_redeemed],
        "ativo": cfg.active,
    }
    current = conn.execute(
        sa.select(table.c.id)
        .where(table.c.organizacao_id == org_id)
        .order_by(table.c.ativo.desc(), table.c.data_atualizacao.desc(), table.c.id)
        .limit(1)
        .with_for_update()
    ).scalar_one_or_none()
    if current is not None:
        conn.execute(
            sa.update(table)
            .where(table.c.id == current, _differs(table, values))
            .values(**values, data_atualizacao=sa.func.now())
        )
        return
    statement = insert(table).values(organizacao_id=org_id, **values)
    conn.execute(_upsert(statement, table, ["organizacao_id"], values, index_where=table.c.ativo))


def apply_whatsapp(conn: sa.Connection, org_id: str, cfg: WhatsAppConfig) -> None:
    """Upsert the connection (a Cloud API number by its phone-number id, a gateway session by
    its id), deactivate the organization's other connections, and upsert the templates (by
    name and language)."""
    connection = cfg.connection
    table = whatsapp_connections
    if isinstance(connection, InternalGatewayConnectionConfig):
        key = {"gateway_sessao_id": connection.session_id}
        values = {
            "gateway_url": connection.gateway_url,
            "gateway_segredo_env": connection.secret_env,
            "whatsapp_telefone_id": None,
            "whatsapp_conta_id": None,
            "token": None,
            "token_env": None,
        }
    else:
        key = {"whatsapp_telefone_id": connection.phone_number_id}
        values = {
            "whatsapp_conta_id": connection.business_account_id,
            # The token itself, or only the name of the environment variable holding it.
            "token": connection.token.get_secret_value().strip() if connection.token else None,
            "token_env": connection.token_env,
            "gateway_url": None,
            "gateway_segredo_env": None,
        }
    values |= {"tipo": connection.connection_type.value, "ativo": True}
    statement = insert(table).values(organizacao_id=org_id, **key, **values)
    conn.execute(_upsert(statement, table, ["organizacao_id", *key], values))
    ((key_column, key_value),) = key.items()
    conn.execute(
        sa.update(table)
        .where(
            table.c.organizacao_id == org_id,
            table.c[key_column].is_distinct_from(key_value),
            table.c.ativo,
        )
        .values(ativo=False, data_atualizacao=sa.func.now())
    )
    if not cfg.templates:
        return
    rows = [_template_row(template) for template in cfg.templates]
    statement = insert(whatsapp_templates).values(
        [
            {"organizacao_id": org_id, "nome": t.name, "idioma": t.language, **row}
            for t, row in zip(cfg.templates, rows, strict=True)
        ]
    )
    conn.execute(
        _upsert(statement, whatsapp_templates, ["organizacao_id", "nome", "idioma"], list(rows[0]))
    )


def apply_campaigns(
    conn: sa.Connection, org_id: str, campaign_configs: Sequence[CampaignConfig]
) -> None:
    """Upsert the campaigns by key and make each one's segmentations exactly the listed set
    (deleting only what is no longer listed, inserting only what is missing)."""
    if not campaign_configs:
        return
    template_ids = _template_ids(conn, org_id, campaign_configs)
    connection_id = _sending_connection(conn, org_id) if template_ids else None
    rows = [
        _campaign_row(
            campaign,
            template_ids.get((campaign.template, campaign.template_language)),
            connection_id if campaign.template is not None else None,
        )
        for campaign in campaign_configs
    ]
    statement = insert(campaigns).values(
        [
            {"organizacao_id": org_id, "chave": c.key, **row}
            for c, row in zip(campaign_configs, rows, strict=True)
        ]
    )
    conn.execute(_upsert(statement, campaigns, ["organizacao_id", "chave"], list(rows[0])))

    keys = [campaign.key for campaign in campaign_configs]
    campaign_ids = dict(
        conn.execute(
            sa.select(campaigns.c.chave, campaigns.c.id).where(
                campaigns.c.organizacao_id == org_id, campaigns.c.chave.in_(keys)
            )
        ).all()
    )
    wanted = [
        (campaign_ids[campaign.key], segment)
        for campaign in campaign_configs
        for segment in campaign.segmentations
    ]
    segments = campaign_segmentations
    obsolete = sa.delete(segments).where(
        segments.c.organizacao_id == org_id,
        segments.c.campanha_id.in_(list(campaign_ids.values())),
    )
    if wanted:
        obsolete = obsolete.where(
            sa.tuple_(segments.c.campanha_id, segments.c.segmentacao).not_in(wanted)
        )
    conn.execute(obsolete)
    if wanted:
        segment_rows = [
            {"organizacao_id": org_id, "campanha_id": cid, "segmentacao": s} for cid, s in wanted
        ]
        conn.execute(
            insert(segments)
            .values(segment_rows)
            .on_conflict_do_nothing(index_elements=["organizacao_id", "campanha_id", "segmentacao"])
        )


def _template_row(template: TemplateConfig) -> dict[str, Any]:
    return {
        "categoria": template.category,
        "parametros_formato": template.parameter_format.upper(),
        "parametros": [{"nome": p.name, "identificador": p.variable} for p in template.parameters],
        "cabecalho_tipo": None if template.header_type == "none" else template.header_type.upper(),
        "cabecalho_midia_url": template.header_media_url,
        "corpo_texto": template.body,
        "status": template.status,
    }


def _template_ids(
    conn: sa.Connection, org_id: str, campaign_configs: Sequence[CampaignConfig]
) -> dict[tuple[str, str], Any]:
    wanted = {(c.template, c.template_language) for c in campaign_configs if c.template is not None}
    if not wanted:
        return {}
    table = whatsapp_templates
    found = {
        (name, language): template_id
        for name, language, template_id in conn.execute(
            sa.select(table.c.nome, table.c.idioma, table.c.id).where(
                table.c.organizacao_id == org_id,
                sa.tuple_(table.c.nome, table.c.idioma).in_(sorted(wanted)),
            )
        )
    }
    missing = sorted(wanted - found.keys())
    if missing:
        listing = ", ".join(f"{name} ({language})" for name, language in missing)
        raise EngagementApplyError(
            f"organization {org_id}: campaigns use WhatsApp templates that are not registered:"
            f" {listing}"
        )
    return found


def _sending_connection(conn: sa.Connection, org_id: str) -> Any:
    table = whatsapp_connections
    ids = (
        conn.execute(sa.select(table.c.id).where(table.c.organizacao_id == org_id, table.c.ativo))
        .scalars()
        .all()
    )
    if len(ids) != 1:
        raise EngagementApplyError(
            f"organization {org_id}: campaigns with a template need exactly one active WhatsApp"
            f" connection to send from, found {len(ids)}"
        )
    return ids[0]


def _campaign_row(campaign: CampaignConfig, template_id: Any, connection_id: Any) -> dict[str, Any]:
    trigger = campaign.trigger
    recurrence = trigger.recurrence
    cashback = campaign.cashback
    return {
        "titulo": campaign.title,
        "descricao": campaign.description,
        "ativo": campaign.active,
        "gatilho_tipo": trigger.type,
        "gatilho_nova_compra_valor_minimo": trigger.minimum_sale_value,
        "gatilho_quantidade_total_compras": trigger.purchase_count,
        "gatilho_valor_total_compras": trigger.purchase_total,
        "gatilho_novo_cashback_acumulado_valor_minimo": trigger.new_cashback_minimum,
        "gatilho_total_cashback_acumulado_valor_minimo": trigger.total_cashback_minimum,
        **_period("gatilho_tempo_permanencia", trigger.time_in_segment),
        **_period("gatilho_cashback_expirando_antecedencia", trigger.notice),
        "permitir_recorrencia": campaign.frequency.allow_repeat,
        "frequencia_intervalo_valor": _value_or_zero(campaign.frequency.min_interval),
        "frequencia_intervalo_medida": _unit(campaign.frequency.min_interval),
        "execucao_agendada_valor": _value_or_zero(campaign.schedule.delay),
        "execucao_agendada_medida": _unit(campaign.schedule.delay),
        "execucao_agendada_bloco": campaign.schedule.block,
        "cashback_geracao_ativo": cashback is not None,
        "cashback_geracao_tipo": cashback.type if cashback else None,
        "cashback_geracao_valor": cashback.value if cashback else None,
        **_period("cashback_geracao_expiracao", cashback.expiry if cashback else None),
        "atribuicao_janela_dias": campaign.attribution_window_days,
        "whatsapp_conexao_id": connection_id,
        "whatsapp_template_id": template_id,
        "recorrencia_tipo": recurrence.type if recurrence else None,
        "recorrencia_intervalo": recurrence.interval if recurrence else None,
        "recorrencia_dias_semana": recurrence.weekdays if recurrence else None,
        "recorrencia_dias_mes": recurrence.month_days if recurrence else None,
        "recorrencia_data_inicio": recurrence.start_date if recurrence else None,
    }


def _period(prefix: str, period: Period | None) -> dict[str, Any]:
    return {
        f"{prefix}_valor": period.value if period else None,
        f"{prefix}_medida": period.unit if period else None,
    }


def _value_or_zero(period: Period | None) -> int:
    return period.value if period else 0


def _unit(period: Period | None) -> str | None:
    return period.unit if period else None


def _differs(table: sa.Table, values: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    """True when any of the columns would change."""
    return sa.or_(*(table.c[name].is_distinct_from(value) for name, value in values.items()))


def _upsert(
    statement: Any,
    table: sa.Table,
    key: list[str],
    columns: Iterable[str],
    index_where: sa.ColumnElement[bool] | None = None,
) -> Any:
    """ON CONFLICT (key) DO UPDATE the given columns, only where one of them changes."""
    excluded = statement.excluded
    columns = list(columns)
    return statement.on_conflict_do_update(
        index_elements=key,
        index_where=index_where,
        set_={**{name: excluded[name] for name in columns}, "data_atualizacao": sa.func.now()},
        where=sa.or_(*(table.c[name].is_distinct_from(excluded[name]) for name in columns)),
    )
