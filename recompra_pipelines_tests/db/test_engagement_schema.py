"""Engagement tables and the org-file writer, against the test session's migrated PostgreSQL."""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
import yaml
from pydantic import ValidationError

from recompra_pipelines.db.tables.campaigns import campaign_segmentations, campaigns
from recompra_pipelines.db.tables.cashback import (
    cashback_program_balances,
    cashback_program_transactions,
    cashback_programs,
)
from recompra_pipelines.db.tables.messaging import whatsapp_connections, whatsapp_templates
from recompra_pipelines.db.tables.sync import clients, organizations
from recompra_pipelines.orgfile.engagement import CampaignConfig, EngagementConfig
from recompra_pipelines.orgfile_store.engagement_writer import (
    EngagementApplyError,
    apply_campaigns,
    apply_engagement,
)

CONFIG_TABLES = [
    "cashback_programs",
    "whatsapp_connections",
    "whatsapp_templates",
    "campaigns",
    "campaign_segmentations",
]

ORG_FILE = """
cashback_program:
  accrual_type: PERCENTUAL
  accrual_value: 5
  partner_accrual_value: 1.5
  minimum_sale_value: "20.00"
  expiry_days: 90
  redemption_limit_type: PERCENTUAL
  redemption_limit_value: 50
whatsapp:
  connection:
    phone_number_id: 104857600000001
    business_account_id: "209715200000001"
    token_env: TEST_WHATSAPP_TOKEN
  templates:
    - name: boas_vindas
      parameters: [clientName, cashbackAvailableBalance]
      body: "Olá {{1}}! Você tem {{2}} de cashback."
    - name: cashback_expirando
      language: pt_BR
      category: UTILITY
      parameter_format: named
      parameters:
        - {name: nome, variable: clientName}
        - {name: valor, variable: cashbackExpiringAmount}
        - {name: data, variable: cashbackExpiringDate}
      header_type: image
      header_media_url: https://example.com/cashback.png
      body: "{{nome}}, {{valor}} do seu cashback vence em {{data}}."
campaigns:
  - key: boas-vindas
    title: Boas-vindas
    trigger: PRIMEIRA-COMPRA
    segmentations: [CLIENTES RECENTES]
    cashback: {type: FIXO, value: "10.00", expiry: {value: 30, unit: DIAS}}
    template: boas_vindas
  - key: volte-sempre
    title: Volte sempre
    trigger: {type: NOVA-COMPRA, minimum_sale_value: 50}
    segmentations: [CAMPEÕES, CLIENTES LEAIS, EM RISCO]
    frequency: {allow_repeat: true, min_interval: {value: 2, unit: SEMANAS}}
    schedule: {delay: {value: 3, unit: DIAS}, block: 18:00}
    cashback: {type: PERCENTUAL, value: 2.5}
    attribution_window_days: 7
    template: boas_vindas
  - key: vencendo
    title: Cashback vencendo
    trigger: {type: CASHBACK-EXPIRANDO, notice: {value: 5, unit: DIAS}}
    template: cashback_expirando
  - key: sextou
    title: Sextou
    trigger:
      type: RECORRENTE
      recurrence: {type: SEMANAL, weekdays: [5, 1], start_date: 2026-01-02}
    schedule: {block: "09:00"}
"""


def org_file() -> dict:
    return yaml.safe_load(ORG_FILE)


@pytest.fixture(autouse=True)
def whatsapp_token(monkeypatch):
    monkeypatch.setenv("TEST_WHATSAPP_TOKEN", "EAAG-test-token")


def _new_org(engine) -> str:
    org_id = f"org-{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(organizations.insert().values(id=org_id, nome="Loja Centro"))
    return org_id


def _new_client(conn, org_id: str) -> uuid.UUID:
    client_id = uuid.uuid4()
    conn.execute(
        clients.insert().values(
            id=client_id, organizacao_id=org_id, nome="Maria", nome_chave="maria"
        )
    )
    return client_id


def _apply(engine, org_id: str, data: dict) -> dict[str, int]:
    """Apply the file in one transaction; return the rows it inserted, updated and deleted."""
    cfg = EngagementConfig.model_validate(data)
    with engine.begin() as conn:
        before = _write_counts(conn)
        apply_engagement(conn, org_id, cfg)
        after = _write_counts(conn)
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def _write_counts(conn) -> dict[str, int]:
    # The backend's counters not yet flushed to the shared statistics, current transaction
    # included (a difference within one transaction is exactly what it wrote).
    stats = conn.execute(
        sa.text(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables"
            " WHERE relname = ANY(:names)"
        ),
        {"names": CONFIG_TABLES},
    ).all()
    return {
        f"{relname}.{kind}": count
        for relname, *counts in stats
        for kind, count in zip(("ins", "upd", "del"), counts, strict=True)
    }


def _row_versions(engine, org_id: str) -> dict[str, set[tuple[str, str]]]:
    with engine.connect() as conn:
        return {
            name: set(
                conn.execute(
                    sa.text(f"SELECT id::text, xmin::text FROM {name} WHERE organizacao_id = :org"),
                    {"org": org_id},
                ).all()
            )
            for name in CONFIG_TABLES
        }


def test_reapplying_the_same_file_writes_nothing(engine):
    org_id = _new_org(engine)
    first = _apply(engine, org_id, org_file())
    assert first == {
        "cashback_programs.ins": 1,
        "whatsapp_connections.ins": 1,
        "whatsapp_templates.ins": 2,
        "campaigns.ins": 4,
        "campaign_segmentations.ins": 4,
    }
    versions = _row_versions(engine, org_id)

    assert _apply(engine, org_id, org_file()) == {}
    assert _row_versions(engine, org_id) == versions


def test_the_file_is_stored_in_the_portuguese_columns(engine):
    org_id = _new_org(engine)
    _apply(engine, org_id, org_file())
    with engine.connect() as conn:
        program = conn.execute(
            sa.select(cashback_programs).where(cashback_programs.c.organizacao_id == org_id)
        ).one()
        connection = conn.execute(
            sa.select(whatsapp_connections).where(whatsapp_connections.c.organizacao_id == org_id)
        ).one()
        stored_templates = {
            row.nome: row
            for row in conn.execute(
                sa.select(whatsapp_templates).where(whatsapp_templates.c.organizacao_id == org_id)
            )
        }
        stored = {
            row.chave: row
            for row in conn.execute(
                sa.select(campaigns).where(campaigns.c.organizacao_id == org_id)
            )
        }
        segments = conn.execute(
            sa.select(campaigns.c.chave, campaign_segmentations.c.segmentacao)
            .join(campaigns, campaigns.c.id == campaign_segmentations.c.campanha_id)
            .where(campaign_segmentations.c.organizacao_id == org_id)
        ).all()

    assert program.acumulo_tipo == "PERCENTUAL"
    assert program.acumulo_valor == Decimal("5.00")
    assert program.acumulo_valor_parceiro == Decimal("1.50")
    assert program.acumulo_permitir_via_integracao is True
    assert program.expiracao_regra_validade_valor == 90
    assert program.cancelamento_consumido_politica == "BAIXA"
    assert program.ativo is True

    assert connection.whatsapp_telefone_id == "104857600000001"
    # Given by reference: only the variable's name is stored, the token is read when sending.
    assert (connection.token, connection.token_env) == (None, "TEST_WHATSAPP_TOKEN")

    expiring = stored_templates["cashback_expirando"]
    assert expiring.parametros_formato == "NAMED"
    assert expiring.cabecalho_tipo == "IMAGE"
    assert expiring.parametros[1] == {"nome": "valor", "identificador": "cashbackExpiringAmount"}
    assert stored_templates["boas_vindas"].parametros[0] == {
        "nome": None,
        "identificador": "clientName",
    }

    again = stored["volte-sempre"]
    assert again.gatilho_tipo == "NOVA-COMPRA"
    assert again.gatilho_nova_compra_valor_minimo == Decimal("50.00")
    assert (again.frequencia_intervalo_valor, again.frequencia_intervalo_medida) == (2, "SEMANAS")
    assert (again.execucao_agendada_valor, again.execucao_agendada_bloco) == (3, "18:00")
    assert (again.cashback_geracao_tipo, again.cashback_geracao_valor) == (
        "PERCENTUAL",
        Decimal("2.50"),
    )
    assert again.atribuicao_janela_dias == 7
    assert again.whatsapp_template_id == stored_templates["boas_vindas"].id
    assert again.whatsapp_conexao_id == connection.id

    welcome = stored["boas-vindas"]
    assert welcome.execucao_agendada_valor == 0
    assert welcome.permitir_recorrencia is True
    assert welcome.cashback_geracao_expiracao_valor == 30

    weekly = stored["sextou"]
    assert weekly.recorrencia_dias_semana == [1, 5]
    assert weekly.execucao_agendada_bloco == "09:00"
    assert weekly.whatsapp_conexao_id is None

    assert sorted(segments) == [
        ("boas-vindas", "CLIENTES RECENTES"),
        ("volte-sempre", "CAMPEÕES"),
        ("volte-sempre", "CLIENTES LEAIS"),
        ("volte-sempre", "EM RISCO"),
    ]


def test_an_edit_rewrites_only_what_changed(engine):
    org_id = _new_org(engine)
    _apply(engine, org_id, org_file())
    edited = org_file()
    edited["campaigns"][1]["title"] = "Volte logo"
    edited["campaigns"][1]["segmentations"] = ["CAMPEÕES", "CLIENTES LEAIS", "HIBERNANDO"]

    assert _apply(engine, org_id, edited) == {
        "campaigns.upd": 1,
        "campaign_segmentations.del": 1,
        "campaign_segmentations.ins": 1,
    }


def test_the_program_is_updated_in_place_even_when_deactivated(engine):
    org_id = _new_org(engine)
    _apply(engine, org_id, org_file())
    paused = org_file()
    paused["cashback_program"]["active"] = False
    paused["cashback_program"]["reversal_of_redeemed"] = "claw_back"
    assert _apply(engine, org_id, paused) == {"cashback_programs.upd": 1}
    assert _apply(engine, org_id, org_file()) == {"cashback_programs.upd": 1}
    with engine.connect() as conn:
        programs = conn.execute(
            sa.select(
                cashback_programs.c.ativo, cashback_programs.c.cancelamento_consumido_politica
            ).where(cashback_programs.c.organizacao_id == org_id)
        ).all()
    assert programs == [(True, "BAIXA")]


def test_a_new_phone_number_replaces_the_active_connection(engine):
    org_id = _new_org(engine)
    _apply(engine, org_id, org_file())
    moved = org_file()
    moved["whatsapp"]["connection"]["phone_number_id"] = "104857600000002"
    changes = _apply(engine, org_id, moved)
    assert changes == {
        "whatsapp_connections.ins": 1,
        "whatsapp_connections.upd": 1,
        "campaigns.upd": 3,
    }
    with engine.connect() as conn:
        active = (
            conn.execute(
                sa.select(whatsapp_connections.c.whatsapp_telefone_id).where(
                    whatsapp_connections.c.organizacao_id == org_id, whatsapp_connections.c.ativo
                )
            )
            .scalars()
            .all()
        )
    assert active == ["104857600000002"]


def test_campaigns_need_their_templates_registered(engine):
    org_id = _new_org(engine)
    campaign = CampaignConfig.model_validate(org_file()["campaigns"][0])
    with (
        pytest.raises(EngagementApplyError, match=r"boas_vindas \(pt_BR\)"),
        engine.begin() as conn,
    ):
        apply_campaigns(conn, org_id, [campaign])


def test_one_active_program_per_organization(engine):
    org_id = _new_org(engine)
    _apply(engine, org_id, org_file())
    with pytest.raises(sa.exc.IntegrityError, match="uq_cashback_programs_organizacao_id_ativo"):
        with engine.begin() as conn:
            conn.execute(
                cashback_programs.insert().values(
                    organizacao_id=org_id, acumulo_tipo="FIXO", acumulo_valor=Decimal("1")
                )
            )
    with engine.begin() as conn:
        conn.execute(
            cashback_programs.insert().values(
                organizacao_id=org_id, acumulo_tipo="FIXO", acumulo_valor=Decimal("1"), ativo=False
            )
        )


def test_ledger_keys_and_checks(engine):
    org_id = _new_org(engine)
    _apply(engine, org_id, org_file())
    with engine.begin() as conn:
        program_id = conn.execute(
            sa.select(cashback_programs.c.id).where(cashback_programs.c.organizacao_id == org_id)
        ).scalar_one()
        client_id = _new_client(conn, org_id)
        conn.execute(
            cashback_program_balances.insert().values(
                organizacao_id=org_id, programa_id=program_id, cliente_id=client_id
            )
        )
    accrual = {
        "organizacao_id": org_id,
        "programa_id": program_id,
        "cliente_id": client_id,
        "tipo": "ACÚMULO",
        "status": "ATIVO",
        "valor": Decimal("5.00"),
        "valor_restante": Decimal("5.00"),
        "saldo_valor_anterior": Decimal("0"),
        "saldo_valor_posterior": Decimal("5.00"),
        "chave_idempotencia": "acumulo:venda-1:0",
    }
    with engine.begin() as conn:
        conn.execute(cashback_program_transactions.insert().values(accrual))

    rejected = [
        (accrual, "chave_idempotencia"),
        ({**accrual, "chave_idempotencia": "x1", "saldo_valor_posterior": 6}, "saldo_posterior"),
        ({**accrual, "chave_idempotencia": "x2", "tipo": "CANCELAMENTO"}, "restante_so_em_acumulo"),
        ({**accrual, "chave_idempotencia": "x3", "valor_restante": 7}, "acumulo_positivo"),
    ]
    for values, constraint in rejected:
        with pytest.raises(sa.exc.IntegrityError, match=constraint), engine.begin() as conn:
            conn.execute(cashback_program_transactions.insert().values(values))
    with pytest.raises(sa.exc.IntegrityError, match="uq_cashback_program_balances_cliente"):
        with engine.begin() as conn:
            conn.execute(
                cashback_program_balances.insert().values(
                    organizacao_id=org_id, programa_id=program_id, cliente_id=client_id
                )
            )
    # The CHECK behind each enumeration holds even for SQL that bypasses SQLAlchemy.
    with pytest.raises(sa.exc.IntegrityError, match="ck_cashback_program_transactions_status"):
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE cashback_program_transactions SET status = 'PENDENTE' WHERE organizacao_id = :org"
                ),
                {"org": org_id},
            )


def test_the_migrations_create_the_engagement_tables_with_the_core_tables(engine):
    inspector = sa.inspect(engine)
    assert {"organizations", "clients", "sales", *CONFIG_TABLES} <= set(inspector.get_table_names())


# ------------------------------------------------------------------------------ validation


def _error(data: dict) -> str:
    with pytest.raises(ValidationError) as raised:
        EngagementConfig.model_validate(data)
    return str(raised.value)


def test_a_bad_block_is_named():
    data = org_file()
    data["campaigns"][1]["schedule"]["block"] = "10:00"
    message = _error(data)
    assert "campaigns.1.schedule.block" in message
    assert "'10:00' is not a scheduling block; use one of 00:00, 03:00" in message


def test_unquoted_yaml_blocks_are_read_back():
    parsed = EngagementConfig.model_validate(org_file())
    assert parsed.campaigns[1].schedule.block == "18:00"


def test_negative_money_is_rejected():
    data = org_file()
    data["campaigns"][0]["cashback"]["value"] = "-1"
    message = _error(data)
    assert "campaigns.0.cashback.value" in message
    assert "greater than or equal to 0" in message


def test_money_is_exact_and_has_two_decimal_places_at_most():
    data = org_file()
    data["cashback_program"]["accrual_type"] = "FIXO"
    data["cashback_program"]["accrual_value"] = 0.1
    assert EngagementConfig.model_validate(data).cashback_program.accrual_value == Decimal("0.1")
    data["cashback_program"]["accrual_value"] = 0.125
    assert "no more than 2 decimal places" in _error(data)


def test_percentages_stop_at_100():
    data = org_file()
    data["cashback_program"]["accrual_value"] = 150
    assert "accrual_value is a percentage and must be between 0 and 100, got 150" in _error(data)


def test_an_unknown_template_is_named():
    data = org_file()
    data["campaigns"][0]["template"] = "promo_natal"
    message = _error(data)
    assert "campaign 'boas-vindas' uses template 'promo_natal' (pt_BR)" in message
    assert "declared: boas_vindas (pt_BR), cashback_expirando (pt_BR)" in message


def test_a_bad_trigger_is_named():
    data = org_file()
    data["campaigns"][0]["trigger"] = "PRIMEIRA-VISITA"
    message = _error(data)
    assert "campaigns.0.trigger.type" in message
    assert "'PRIMEIRA-COMPRA'" in message


def test_thresholds_must_belong_to_the_trigger():
    data = org_file()
    data["campaigns"][0]["trigger"] = {"type": "PRIMEIRA-COMPRA", "purchase_count": 3}
    assert "purchase_count does not apply to PRIMEIRA-COMPRA" in _error(data)
    data["campaigns"][0]["trigger"] = {"type": "QUANTIDADE-TOTAL-COMPRAS"}
    assert "purchase_count is required for QUANTIDADE-TOTAL-COMPRAS" in _error(data)


def test_templates_are_checked_against_their_body_and_their_campaigns():
    data = org_file()
    data["whatsapp"]["templates"][0]["body"] = "Olá {{1}}!"
    assert "placeholders {{1}} must be exactly {{1}}, {{2}}" in _error(data)

    data = org_file()
    data["campaigns"][2]["template"] = "boas_vindas"
    data["whatsapp"]["templates"][0]["parameters"] = ["clientName", "purchaseValue"]
    message = _error(data)
    assert "campaign 'vencendo': template 'boas_vindas' uses purchaseValue" in message

    # A variable nothing fills would make every message of the campaign a skip.
    data = org_file()
    data["whatsapp"]["templates"][0]["parameters"] = ["clientName", "clientSuggestedProduct"]
    message = _error(data)
    assert "template 'boas_vindas' uses clientSuggestedProduct, which nothing fills" in message


def test_unknown_fields_and_missing_secrets_are_errors():
    data = org_file()
    data["campaigns"][0]["titel"] = "typo"
    assert "campaigns.0.titel" in _error(data)

    data = org_file()
    data["whatsapp"]["connection"]["token_env"] = "NOT AN ENV NAME"
    assert "token_env: 'NOT AN ENV NAME' is not an environment variable name" in _error(data)

    data = org_file()
    data["whatsapp"]["connection"]["token"] = "EAAG-test-token"
    assert "give exactly one of token or token_env" in _error(data)


def test_the_token_never_shows_in_reprs():
    parsed = EngagementConfig.model_validate(org_file())
    assert "EAAG-test-token" not in repr(parsed)
    assert "EAAG-test-token" not in str(parsed.model_dump())


def test_campaign_cashback_needs_a_program():
    data = copy.deepcopy(org_file())
    del data["cashback_program"]
    assert (
        "campaign 'boas-vindas' gives cashback, but the file declares no cashback_program"
        in _error(data)
    )
