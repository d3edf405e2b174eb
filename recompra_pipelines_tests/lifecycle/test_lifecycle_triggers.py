"""The daily triggers: the exact interactions each creates, negatives, re-runs and a backfill."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.assets.lifecycle import LIFECYCLE_ASSETS
from recompra_pipelines.automation.lifecycle import lifecycle_schedule
from recompra_pipelines.domain.rfm import DEFAULT_THRESHOLDS
from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines.sync.ledger_steps import reconcile_day_cashback
from recompra_pipelines.sync.lifecycle_steps import create_lifecycle_interactions, run_rfm
from recompra_pipelines_tests.cashback.ledger_helpers import SP, add_client, add_sale, balance
from recompra_pipelines_tests.helpers import metadata, new_org

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
THRESHOLDS = {
    name: {score: list(bounds) for score, bounds in buckets.items()}
    for name, buckets in DEFAULT_THRESHOLDS.items()
}
PROGRAM = {"accrual_type": "PERCENTUAL", "accrual_value": "10", "expiry_days": 3}


def _org(engine, campaigns, **extra) -> str:
    org_id, _ = new_org(
        engine,
        "http://127.0.0.1:9",
        campaigns=campaigns,
        cashback_program=PROGRAM,
        effects_start="2024-01-01",
        **extra,
    )
    return org_id


def _run_day(engine, org_id, day):
    run_rfm(engine, org_id, day, NOW)
    return create_lifecycle_interactions(engine, org_id, day, NOW, hour=2)


def _campaigns_of(engine, org_id, day, hour=2):
    """The daily campaigns that go out on `day`: those of the lifecycle run of the day before
    (the night that closes it)."""
    return create_lifecycle_interactions(engine, org_id, day - timedelta(days=1), NOW, hour=hour)


def _interactions(engine, org_id) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """SELECT c.chave, cl.nome, i.chave_idempotencia, i.titulo, i.status_envio,
                          i.agendamento_data_referencia, i.agendamento_bloco_referencia, i.metadados
                   FROM interactions i JOIN campaigns c ON c.id = i.campanha_id
                   JOIN clients cl ON cl.id = i.cliente_id
                   WHERE i.organizacao_id = :o ORDER BY 1, 2, 3"""
            ),
            {"o": org_id},
        ).all()
    return [
        (r.chave, r.nome, r.chave_idempotencia.split(":", 2)[2], r.titulo, r.status_envio,
         r.agendamento_data_referencia, r.agendamento_bloco_referencia, r.metadados)
        for r in rows
    ]  # fmt: skip


def _keys(engine, org_id) -> list[tuple[str, str, str]]:
    return [row[:3] for row in _interactions(engine, org_id)]


def _set_birthday(engine, client, birth: date) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE clients SET data_nascimento = :b WHERE id = :c"),
            {"b": birth, "c": client},
        )


SEGMENT_CAMPAIGNS = [
    {"key": "entrada", "title": "Entrada", "trigger": "ENTRADA-SEGMENTAÇÃO",
     "segmentations": ["PRESTES A DORMIR", "HIBERNANDO"], "cashback": {"type": "FIXO", "value": "5.00"}},
    {"key": "fica", "title": "Fica", "trigger": {"type": "PERMANÊNCIA-SEGMENTAÇÃO",
     "time_in_segment": {"value": 3, "unit": "DIAS"}}, "segmentations": ["CLIENTES RECENTES"]},
]  # fmt: skip


def test_segment_entry_and_stay_fire_once_each_over_a_30_day_backfill(engine):
    org = _org(engine, SEGMENT_CAMPAIGNS, rfm_thresholds=THRESHOLDS)
    start = date(2026, 3, 1)
    ana, bia, caio = (add_client(engine, org, name) for name in ("Ana", "Bia", "Caio"))
    add_sale(engine, org, ana, "50", start - timedelta(days=1))  # R1 -> 5,1,1 CLIENTES RECENTES
    add_sale(engine, org, bia, "50", start - timedelta(days=171))  # R171 -> PRESTES A DORMIR
    # caio never bought: not scored, keeps the label he was created with.
    days = [start + timedelta(days=k) for k in range(30)]

    for day in days:
        _run_day(engine, org, day)

    # Bia enters PRESTES A DORMIR on the first day, HIBERNANDO when her recency reaches 181;
    # Ana stays CLIENTES RECENTES (unchanged default: no entry) and the stay fires once on
    # the first day more than 3 days after she was first analysed. Each goes out the morning
    # after the day it was scored.
    assert _keys(engine, org) == [
        ("entrada", "Bia", "segmento:HIBERNANDO:2026-03-11"),
        ("entrada", "Bia", "segmento:PRESTES A DORMIR:2026-03-01"),
        ("fica", "Ana", "permanencia:CLIENTES RECENTES:2026-03-01"),
    ]
    rows = _interactions(engine, org)
    assert {r[3] for r in rows} == {
        "Envio de mensagem automática via campanha Entrada",
        "Envio de mensagem automática via campanha Fica",
    }
    assert [r[5] for r in rows] == [date(2026, 3, 12), date(2026, 3, 2), date(2026, 3, 6)]
    assert rows[0][7]["dataGatilho"] == datetime(2026, 3, 12, 2, tzinfo=SP).isoformat()
    assert balance(engine, org, bia)[0] == D("10.00")  # 2 x FIXO 5.00
    with engine.connect() as conn:
        state = conn.execute(
            sa.text(
                "SELECT nome, analise_rfm_titulo, analise_rfm_titulo_anterior, analise_rfm_desde,"
                " analise_rfm_recencia, analise_rfm_frequencia, analise_rfm_monetario"
                " FROM clients WHERE organizacao_id = :o ORDER BY nome"
            ),
            {"o": org},
        ).all()
    assert [tuple(r) for r in state] == [
        ("Ana", "CLIENTES RECENTES", None, date(2026, 3, 1), 5, 1, 1),
        ("Bia", "HIBERNANDO", "PRESTES A DORMIR", date(2026, 3, 11), 2, 1, 1),
        ("Caio", "CLIENTES RECENTES", None, None, None, None, None),
    ]

    # Re-running any day, or the whole range again, creates nothing new.
    before = _interactions(engine, org)
    for day in [days[-1], days[0], *days]:
        counts = _run_day(engine, org, day)
        assert counts.interactions_created == 0
    assert _interactions(engine, org) == before


def test_a_purchase_on_day_d_counts_in_day_d_and_a_client_who_never_bought_is_not_scored(engine):
    campaigns = [{"key": "perdidos", "title": "Volte", "trigger": "ENTRADA-SEGMENTAÇÃO",
                  "segmentations": ["PERDIDOS"]}]  # fmt: skip
    org = _org(engine, campaigns, rfm_thresholds=THRESHOLDS)
    day = date(2026, 3, 10)
    ana, partner_client, old = (add_client(engine, org, n) for n in ("Ana", "Parceiro", "Velho"))
    add_sale(engine, org, ana, "50", day)  # her only purchase, on the day itself
    add_sale(engine, org, old, "50", day - timedelta(days=400))  # older than the window

    counts = run_rfm(engine, org, day, NOW)
    lifecycle = create_lifecycle_interactions(engine, org, day, NOW, hour=2)

    with engine.connect() as conn:
        state = dict(
            conn.execute(
                sa.text(
                    "SELECT nome, (analise_rfm_titulo, analise_rfm_recencia,"
                    " analise_rfm_data_referencia)::text FROM clients WHERE organizacao_id = :o"
                ),
                {"o": org},
            ).all()
        )
    assert state == {
        "Ana": '("CLIENTES RECENTES",5,2026-03-10)',  # R = 0: bought on D
        "Parceiro": '("CLIENTES RECENTES",,)',  # never bought: left as it was
        "Velho": "(PERDIDOS,1,2026-03-10)",
    }
    assert (counts.clients, counts.buyers) == (2, 1)
    # Only the client who really lapsed enters PERDIDOS.
    assert lifecycle.candidates == {"ENTRADA-SEGMENTAÇÃO": 1}
    assert [row[1] for row in _interactions(engine, org)] == ["Velho"]


def test_birthdays_on_the_local_date_with_29_february_on_28_february(engine):
    campaigns = [{"key": "niver", "title": "Niver", "trigger": "ANIVERSARIO_CLIENTE",
                  "cashback": {"type": "FIXO", "value": "7.50"}}]  # fmt: skip
    org = _org(engine, campaigns)
    people = {"Ana": date(1990, 3, 15), "Bia": date(2000, 2, 29), "Caio": date(1990, 3, 16)}
    ids = {}
    for name, birth in people.items():
        ids[name] = add_client(engine, org, name)
        _set_birthday(engine, ids[name], birth)
    add_client(engine, org, "Duda")  # no birth date

    for day in (date(2027, 3, 15), date(2027, 2, 28), date(2028, 2, 28), date(2028, 2, 29)):
        _campaigns_of(engine, org, day)
        _campaigns_of(engine, org, day)  # a re-run: nothing new

    assert _keys(engine, org) == [
        ("niver", "Ana", "aniversario:2027"),
        ("niver", "Bia", "aniversario:2027"),  # 28/02/2027 (not a leap year)
        ("niver", "Bia", "aniversario:2028"),  # 29/02/2028, not 28/02/2028
    ]
    rows = _interactions(engine, org)
    assert [r[3] for r in rows] == ["Aniversário: Niver"] * 3
    assert [r[5] for r in rows] == [date(2027, 3, 15), date(2027, 2, 28), date(2028, 2, 29)]
    assert balance(engine, org, ids["Bia"])[0] == D("15.00")
    assert balance(engine, org, ids["Caio"]) is None


def test_expiring_cashback_grouped_per_client_with_its_lead_time(engine):
    campaigns = [
        {"key": "aviso3", "title": "Aviso", "trigger": "CASHBACK-EXPIRANDO"},
        {"key": "aviso1", "title": "Véspera", "trigger": {"type": "CASHBACK-EXPIRANDO",
         "notice": {"value": 1, "unit": "DIAS"}}},
    ]  # fmt: skip
    org = _org(engine, campaigns)
    ana, bia = add_client(engine, org, "Ana"), add_client(engine, org, "Bia")
    add_sale(engine, org, ana, "100", date(2026, 1, 5))  # lot 10.00, expires 08/01 00:00
    add_sale(engine, org, ana, "40", date(2026, 1, 5))  # lot 4.00, same expiry
    add_sale(engine, org, bia, "30", date(2026, 1, 1))  # lot 3.00, expires 04/01: already gone
    reconcile_day_cashback(engine, org, date(2026, 1, 1), NOW)
    reconcile_day_cashback(engine, org, date(2026, 1, 5), NOW)

    for day in (date(2026, 1, 4), date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)):
        _campaigns_of(engine, org, day)

    with engine.connect() as conn:
        big_lot = conn.scalar(
            sa.text(
                "SELECT id FROM cashback_program_transactions WHERE cliente_id = :c AND valor = 10"
            ),
            {"c": ana},
        )
    rows = _interactions(engine, org)
    # One per campaign and relevant lot: the 3-day notice on 05/01, the 1-day one on 07/01.
    assert [r[:3] for r in rows] == [
        ("aviso1", "Ana", f"expira:{big_lot}"),
        ("aviso3", "Ana", f"expira:{big_lot}"),
    ]
    assert [r[3] for r in rows] == ["Cashback Expirando: Véspera", "Cashback Expirando: Aviso"]
    assert [r[5] for r in rows] == [date(2026, 1, 7), date(2026, 1, 5)]
    context = rows[1][7]
    assert context["cashbackExpirandoValor"] == "14.00"
    assert context["cashbackExpirandoData"] == "08/01/2026"
    assert context["cashbackSaldoDisponivel"] == "14.00"
    assert context["cashbackTotalResgatadoVida"] == "0.00"


def test_recurrent_campaign_in_its_own_block_once_per_scheduled_day(engine):
    campaigns = [
        {"key": "segunda", "title": "Segunda", "trigger": {"type": "RECORRENTE", "recurrence":
         {"type": "SEMANAL", "interval": 2, "weekdays": [1], "start_date": "2026-03-01"}},
         "schedule": {"block": "09:00"}, "segmentations": ["CLIENTES RECENTES"]},
        {"key": "mensal", "title": "Mensal", "trigger": {"type": "RECORRENTE", "recurrence":
         {"type": "MENSAL", "month_days": [31], "start_date": "2026-03-01"}},
         "schedule": {"block": "21:00"}},
    ]  # fmt: skip
    org = _org(engine, campaigns)
    add_client(engine, org, "Ana")
    perdido = add_client(engine, org, "Bia")
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE clients SET analise_rfm_titulo = 'PERDIDOS' WHERE id = :c"),
            {"c": perdido},
        )

    for k in range(0, 45):
        day = date(2026, 3, 1) + timedelta(days=k)
        _campaigns_of(engine, org, day)
        _campaigns_of(engine, org, day, hour=12)  # another hour: same key

    rows = _interactions(engine, org)
    # Every other Monday from the week of 01/03 (02/03, 16/03, 30/03, 13/04), only Ana;
    # the 31st of March and the 30th of April (April has no 31st), everybody.
    assert [(r[0], r[1], r[2], r[6]) for r in rows] == [
        ("mensal", "Ana", "recorrente:2026-03-31", "21:00"),
        ("mensal", "Bia", "recorrente:2026-03-31", "21:00"),
        ("segunda", "Ana", "recorrente:2026-03-02", "09:00"),
        ("segunda", "Ana", "recorrente:2026-03-16", "09:00"),
        ("segunda", "Ana", "recorrente:2026-03-30", "09:00"),
        ("segunda", "Ana", "recorrente:2026-04-13", "09:00"),
    ]
    assert all(r[5] == date.fromisoformat(r[2].split(":")[1]) for r in rows)
    assert {r[3] for r in rows} == {"Recorrente: Segunda", "Recorrente: Mensal"}


def test_daily_cap_is_shared_with_the_purchase_triggers(engine):
    campaigns = [
        {"key": "niver", "title": "Niver", "trigger": "ANIVERSARIO_CLIENTE"},
        {"key": "todo-dia", "title": "Todo dia", "trigger": {"type": "RECORRENTE",
         "recurrence": {"type": "DIARIO", "start_date": "2026-03-01"}}, "schedule": {"block": "09:00"}},
    ]  # fmt: skip
    org = _org(engine, campaigns, campaign_settings={"daily_message_cap": 1})
    ana = add_client(engine, org, "Ana")
    _set_birthday(engine, ana, date(1990, 3, 2))
    _campaigns_of(engine, org, date(2026, 3, 2))
    statuses = sorted((r[0], r[4]) for r in _interactions(engine, org))
    assert statuses == [("niver", "PENDENTE"), ("todo-dia", "IGNORADO")]


def test_lifecycle_assets_and_schedule(engine, database_url, instance):
    org = _org(engine, SEGMENT_CAMPAIGNS)
    add_sale(engine, org, add_client(engine, org, "Ana"), "50", date(2026, 3, 1))
    instance.add_dynamic_partitions(ORGANIZATIONS, [org])
    result = dg.materialize(
        LIFECYCLE_ASSETS,
        partition_key=str(org_day_key(org, date(2026, 3, 2))),
        instance=instance,
        resources={"crm_db": CrmDatabase(url=database_url), "settings": RecompraSettings()},
    )
    assert metadata(result, "rfm_analysis")["method"] == "QUINTILES"
    assert metadata(result, "rfm_analysis")["buyers"] == 1
    assert metadata(result, "lifecycle_campaigns")["interactions_created"] == 0

    def requests(tick):
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            resources={"crm_db": CrmDatabase(url=database_url), "settings": RecompraSettings()},
        ) as context:
            return lifecycle_schedule(context)

    # Day D runs once it has ended, at the lifecycle hour of D + 1.
    early = requests(datetime(2026, 3, 5, 1, 10, tzinfo=SP))
    late = requests(datetime(2026, 3, 5, 2, 10, tzinfo=SP))
    mine = [r for r in early if r.run_key.startswith(f"lifecycle:{org}:")]
    assert [r.run_key for r in mine] == [f"lifecycle:{org}:2026-03-03"]
    mine = [r for r in late if r.run_key.startswith(f"lifecycle:{org}:")]
    assert [r.run_key for r in mine] == [f"lifecycle:{org}:2026-03-04"]
    assert mine[0].partition_key == org_day_key(org, date(2026, 3, 4))
