"""Purchase-triggered campaigns: the exact interactions each trigger creates, and the negatives."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.automation.erp_sync import SYNC_GRAPH
from recompra_pipelines_tests.helpers import count, materialize_day, metadata, new_org

SP = ZoneInfo("America/Sao_Paulo")
# The sync graph up to attribution: these tests look at interactions before any dispatcher
# touches them (and without the daily RFM, which would move the clients' segments).
UNTIL_ATTRIBUTION = SYNC_GRAPH & dg.AssetSelection.assets("sale_attribution").upstream()
TODAY = datetime.now(SP).date()
DAY = TODAY - timedelta(days=1)


def _sale(
    external_id: str, client: str, phone: str, value: str, hhmm: str, day: date = DAY
) -> dict:
    return {
        "id": external_id, "cliente": client, "clientefone": None, "clientecelular": phone,
        "documento": external_id, "modelo": "65", "serie": "1", "valor": value, "movimento": "RECEITAS",
        "data": day.strftime("%d/%m/%Y"), "datahora": f"{day.strftime('%d/%m/%Y')} {hhmm}:00",
        "vendedor": "Maria", "natureza": "SN01", "tipo": "Venda de produtos", "parceiro": "N/A",
        "situacao": "00", "chave": None,
        "itens": [{"codigo": "P1", "descricao": "Produto", "unidade": "UN", "qtde": "1", "valorunit": value,
                   "vprod": value, "vdesc": "0.00", "vcusto": 1.0, "tipo": "Revenda", "ncm": "61091000", "grupo": "G"}],
    }  # fmt: skip


def _day_sales(day: date = DAY) -> list[dict]:
    return [
        _sale("A", "Ana Souza", "34999990001", "40.00", "10:00", day),
        _sale("B", "ANA SOUZA", "(34) 99999-0001", "60.00", "15:00", day),
        _sale("C", "Ana Souza", "34999990001", "30.00", "18:00", day),
        _sale("D", "Bruno Lima", "11988887777", "120.00", "11:00", day),
    ]


CAMPAIGNS = [
    {"key": "primeira", "title": "Primeira", "trigger": "PRIMEIRA-COMPRA", "segmentations": ["CLIENTES RECENTES"]},
    {"key": "nova", "title": "Nova", "trigger": {"type": "NOVA-COMPRA", "minimum_sale_value": "50.00"}},
    {"key": "quantidade", "title": "Quantidade", "trigger": {"type": "QUANTIDADE-TOTAL-COMPRAS", "purchase_count": 2}},
    {"key": "valor", "title": "Valor", "trigger": {"type": "VALOR-TOTAL-COMPRAS", "purchase_total": "100.00"}},
    {"key": "nova-unica", "title": "Nova única", "trigger": "NOVA-COMPRA", "frequency": {"allow_repeat": False}},
    {"key": "campeoes", "title": "Campeões", "trigger": "NOVA-COMPRA", "segmentations": ["CAMPEÕES"]},
    {"key": "agendada", "title": "Agendada", "trigger": "PRIMEIRA-COMPRA",
     "schedule": {"delay": {"value": 1, "unit": "DIAS"}, "block": "12:00"}},
    {"key": "cashback", "title": "Cashback", "trigger": {"type": "CASHBACK-ACUMULADO", "new_cashback_minimum": "2.50",
     "total_cashback_minimum": "4.00"}},
    {"key": "bonus", "title": "Bônus", "trigger": "PRIMEIRA-COMPRA", "cashback": {"type": "FIXO", "value": "10.00"}},
]  # fmt: skip
# 5 % cashback: A 40 -> 2.00, B 60 -> 3.00 (balance 5.00), C 30 -> 1.50, D 120 -> 6.00.
PROGRAM = {"accrual_type": "PERCENTUAL", "accrual_value": 5, "expiry_days": 90}


def _org(engine, simulator, url, **extra):
    org_id, token = new_org(
        engine,
        url,
        campaigns=CAMPAIGNS,
        cashback_program=PROGRAM,
        effects_start=str(DAY - timedelta(days=30)),
        **extra,
    )
    simulator.configure(token, sales_per_day=0, extra_sales=_day_sales())
    return org_id, token


def _interactions(engine, org_id):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """SELECT c.chave AS campaign, s.id_externo AS sale, i.status_envio, i.erro_codigo,
                          i.agendamento_data_referencia, i.agendamento_bloco_referencia, i.metadados
                   FROM interactions i JOIN campaigns c ON c.id = i.campanha_id JOIN sales s ON s.id = i.venda_id
                   WHERE i.organizacao_id = :o ORDER BY 1, 2"""
            ),
            {"o": org_id},
        ).all()
    return rows


def test_each_trigger_creates_exactly_the_expected_interactions(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, _ = _org(engine, simulator, url)

    result = materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION)

    assert result.success
    rows = _interactions(engine, org_id)
    assert [(r.campaign, r.sale, r.status_envio, r.erro_codigo) for r in rows] == [
        ("agendada", "A", "PENDENTE", None),
        ("agendada", "D", "PENDENTE", None),
        ("bonus", "A", "PENDENTE", None),
        ("bonus", "D", "PENDENTE", None),
        ("cashback", "B", "PENDENTE", None),  # accrued 3.00 >= 2.50, balance >= 4.00
        ("cashback", "D", "PENDENTE", None),  # 6.00; A (2.00) and C (1.50) are below 2.50
        ("nova", "B", "PENDENTE", None),  # C is below the minimum
        ("nova-unica", "B", "PENDENTE", None),
        ("nova-unica", "C", "IGNORADO", "FREQUENCIA"),  # once ever per client
        ("primeira", "A", "PENDENTE", None),
        ("primeira", "D", "PENDENTE", None),
        ("quantidade", "B", "PENDENTE", None),  # the 2nd purchase
        ("valor", "B", "PENDENTE", None),  # 40 + 60 crosses 100
        ("valor", "D", "PENDENTE", None),  # 120 at once
    ]  # "campeoes": wrong segment, nothing
    scheduled = next(r for r in rows if r.campaign == "agendada" and r.sale == "A")
    assert (scheduled.agendamento_data_referencia, scheduled.agendamento_bloco_referencia) == (
        DAY + timedelta(days=1),
        "12:00",
    )
    immediate = next(r for r in rows if r.campaign == "primeira" and r.sale == "A")
    assert (immediate.agendamento_data_referencia, immediate.agendamento_bloco_referencia) == (
        DAY,
        None,
    )
    assert (
        immediate.metadados["compraValor"] == "40.00"
        and immediate.metadados["compraVendedorNome"] == "Maria"
    )
    counts = metadata(result, "campaign_interactions")
    assert (
        counts["interactions_created"],
        counts["skipped_frequency"],
        counts["cashback_grants"],
    ) == (13, 1, 2)
    cashback = next(r for r in rows if r.campaign == "cashback" and r.sale == "B")
    assert (
        cashback.metadados["compraCashbackAcumulado"],
        cashback.metadados["compraCashbackNovoSaldo"],
    ) == ("3.00", "5.00")
    # The bonus: R$ 10,00 per first purchase, through the ledger, tied to the interaction.
    assert (
        count(
            engine,
            "SELECT sum(valor) FROM cashback_program_transactions WHERE organizacao_id = :o AND campanha_id IS NOT NULL",
            o=org_id,
        )
        == 20
    )

    again = materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION)
    assert metadata(again, "campaign_interactions")["interactions_created"] == 0
    assert metadata(again, "campaign_interactions")["cashback_grants"] == 0
    assert len(_interactions(engine, org_id)) == 14


def test_daily_cap_records_a_skip_reason(engine, database_url, erp_simulator, instance):
    simulator, url = erp_simulator
    org_id, _ = _org(engine, simulator, url, campaign_settings={"daily_message_cap": 2})

    assert materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION).success

    rows = _interactions(engine, org_id)
    ana = [
        (r.campaign, r.sale, r.erro_codigo)
        for r in rows
        if r.sale in "ABC" and r.status_envio == "PENDENTE"
    ]
    assert len(ana) == 2  # the two earliest triggers of Ana's day
    assert all(r.erro_codigo in (None, "LIMITE_DIARIO", "FREQUENCIA") for r in rows)
    assert (
        count(
            engine,
            "SELECT count(*) FROM interactions WHERE organizacao_id = :o AND erro_codigo = 'LIMITE_DIARIO'",
            o=org_id,
        )
        > 0
    )


def test_no_interactions_before_the_effects_start(engine, database_url, erp_simulator, instance):
    simulator, url = erp_simulator
    org_id, token = new_org(
        engine, url, campaigns=CAMPAIGNS, cashback_program=PROGRAM, effects_start=str(TODAY)
    )
    simulator.configure(token, sales_per_day=0, extra_sales=_day_sales())

    result = materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION)

    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == 4
    assert (
        count(engine, "SELECT count(*) FROM interactions WHERE organizacao_id = :o", o=org_id) == 0
    )
    assert metadata(result, "campaign_interactions")["not_eligible"] == 4


def test_no_interactions_for_sales_first_seen_too_long_after_their_day(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    old_day = TODAY - timedelta(days=10)
    org_id, token = new_org(
        engine,
        url,
        campaigns=CAMPAIGNS,
        cashback_program=PROGRAM,
        effects_start=str(old_day - timedelta(days=30)),
    )
    simulator.configure(token, sales_per_day=0, extra_sales=_day_sales(old_day))

    assert materialize_day(
        instance, database_url, org_id, old_day, selection=UNTIL_ATTRIBUTION
    ).success

    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == 4
    assert (
        count(engine, "SELECT count(*) FROM interactions WHERE organizacao_id = :o", o=org_id) == 0
    )


def test_a_cancelled_sale_withdraws_only_its_own_unsent_interactions(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = _org(engine, simulator, url)
    assert materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION).success

    cancelled = [
        {**s, "natureza": "SN02", "situacao": "02"} if s["id"] == "B" else s for s in _day_sales()
    ]
    simulator.configure(token, extra_sales=cancelled)
    result = materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION)

    assert metadata(result, "campaign_interactions")["cancelled_with_sale"] == 5
    rows = _interactions(engine, org_id)
    assert {r.campaign for r in rows if r.sale == "B"} == {
        "cashback",
        "nova",
        "nova-unica",
        "quantidade",
        "valor",
    }
    assert all(r.erro_codigo == "VENDA_CANCELADA" for r in rows if r.sale == "B")
    assert all(r.status_envio == "PENDENTE" for r in rows if r.sale in "AD")


def test_attribution_credits_the_last_message_and_a_cancellation_removes_it(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(
        engine, url, campaigns=CAMPAIGNS[:1], effects_start=str(DAY - timedelta(days=30))
    )
    earlier = DAY - timedelta(days=2)
    simulator.configure(
        token,
        sales_per_day=0,
        extra_sales=[_sale("E", "Ana Souza", "34999990001", "40.00", "10:00", earlier)],
    )
    assert materialize_day(
        instance, database_url, org_id, earlier, selection=UNTIL_ATTRIBUTION
    ).success
    # The welcome message of the first purchase was sent that evening.
    with engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE interactions SET status_envio = 'ENVIADO', data_execucao = :at
                       WHERE organizacao_id = :o"""),
            {
                "o": org_id,
                "at": datetime.combine(earlier, datetime.min.time(), SP) + timedelta(hours=19),
            },
        )
    simulator.configure(
        token, extra_sales=[_sale("F", "Ana Souza", "34999990001", "90.00", "10:00", DAY)]
    )

    result = materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION)

    assert metadata(result, "sale_attribution")["attributed"] == 1
    with engine.connect() as conn:
        conversion = conn.execute(
            sa.text("SELECT * FROM campaign_conversions WHERE organizacao_id = :o"), {"o": org_id}
        ).one()
        sale = conn.execute(
            sa.text("SELECT * FROM sales WHERE organizacao_id = :o AND id_externo = 'F'"),
            {"o": org_id},
        ).one()
    assert (
        conversion.venda_id == sale.id and sale.atribuicao_interacao_id == conversion.interacao_id
    )
    assert (
        conversion.tipo_conversao,
        conversion.compras_anteriores_quantidade,
        str(conversion.ticket_medio),
    ) == ("REGULAR", 1, "40.00")
    assert (
        conversion.tempo_para_conversao_minutos == (2 * 24 - 9) * 60
    )  # 19:00 -> 10:00 two days later
    assert (
        str(conversion.delta_monetario_absoluto) == "50.00"
        and str(conversion.delta_monetario_percentual) == "125.00"
    )

    simulator.configure(
        token,
        extra_sales=[
            {**_sale("F", "Ana Souza", "34999990001", "90.00", "10:00", DAY), "natureza": "SN02"}
        ],
    )
    assert materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION).success
    assert (
        count(
            engine, "SELECT count(*) FROM campaign_conversions WHERE organizacao_id = :o", o=org_id
        )
        == 0
    )
    assert (
        count(
            engine,
            "SELECT count(*) FROM sales WHERE organizacao_id = :o AND atribuicao_interacao_id IS NOT NULL",
            o=org_id,
        )
        == 0
    )
