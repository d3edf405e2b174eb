"""Attribution against a brute-force reading of its rule, on days full of ties: per sale, the
message sent last (greatest id on equal times) among those whose own campaign's window
covers the sale, and the client's valid purchases strictly before it."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

import pytest
import sqlalchemy as sa

from recompra_pipelines.sync.campaign_steps import attribute_sales
from recompra_pipelines_tests.cashback.ledger_helpers import (
    SP,
    add_client,
    cancel_sale,
    make_org,
)

DAY = date(2026, 3, 10)
SENT = ("ENVIADO", "ENTREGUE", "LIDO")
# Few distinct instants, so that messages tie with each other and with sales.
INSTANTS = [
    datetime.combine(DAY - timedelta(days=back), time(hour), tzinfo=SP)
    for back in (0, 1, 3, 14, 15)
    for hour in (9, 18)
]


def _campaign(conn, org_id: str, window: int) -> UUID:
    return conn.scalar(
        sa.text(
            "INSERT INTO campaigns (organizacao_id, chave, titulo, gatilho_tipo, "
            "atribuicao_janela_dias) VALUES (:o, :k, 'T', 'NOVA-COMPRA', :w) RETURNING id"
        ),
        {"o": org_id, "k": f"janela-{window}", "w": window},
    )


def _message(conn, org_id, client, campaign, at, status, kind, n) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO interactions (organizacao_id, cliente_id, campanha_id, tipo, titulo, "
            "chave_idempotencia, status_envio, data_execucao) "
            "VALUES (:o, :c, :camp, :tipo, 'T', :k, :s, :at)"
        ),
        {"o": org_id, "c": client, "camp": campaign, "tipo": kind, "k": f"m{n}", "s": status}
        | {"at": at},
    )


def _sale(conn, org_id, client, value, at, valid, n) -> UUID:
    return conn.scalar(
        sa.text(
            "INSERT INTO sales (organizacao_id, integracao_tipo, id_externo, data_referencia, "
            "data_venda, data_venda_precisao, cliente_id, valor_total, custo_total, valida, "
            "hash_conteudo) VALUES (:o, 'ONLINE-SOFTWARE', :e, :d, :t, 'ERP', :c, :v, 0, :ok, 'h')"
            " RETURNING id"
        ),
        {"o": org_id, "e": f"v{n}", "d": at.astimezone(SP).date(), "t": at, "c": client}
        | {"v": value, "ok": valid},
    )


def _expected(sales, messages, windows):
    """What each of the day's valid sales with a client is credited to, read off the rule."""
    expected = {}
    for sale in sales:
        if not (sale["valid"] and sale["client"] and sale["at"].astimezone(SP).date() == DAY):
            continue
        covering = [
            m
            for m in messages
            if m["client"] == sale["client"]
            and m["campaign"] is not None
            and m["kind"] == "ENVIO-MENSAGEM"
            and m["status"] in SENT
            and m["at"] is not None
            and sale["at"] - timedelta(days=windows[m["campaign"]]) <= m["at"] <= sale["at"]
        ]
        if not covering:
            continue
        last = max(covering, key=lambda m: (m["at"], m["id"]))
        before = [
            h
            for h in sales
            if h["client"] == sale["client"]
            and h["valid"]
            and (h["at"], h["id"]) < (sale["at"], sale["id"])
        ]
        ticket = (
            (sum(h["value"] for h in before) / len(before)).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if before
            else None
        )
        days_since = (
            int((sale["at"] - max(h["at"] for h in before)).total_seconds() // 86400)
            if before
            else None
        )
        expected[sale["id"]] = (last["id"], last["campaign"], last["at"], len(before), ticket)
        expected[sale["id"]] += (days_since,)
    return expected


def _conversions(engine, org_id):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT venda_id, interacao_id, campanha_id, data_interacao, "
                "compras_anteriores_quantidade, ticket_medio, dias_desde_ultima_compra "
                "FROM campaign_conversions WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ).all()
        credited = conn.execute(
            sa.text(
                "SELECT id, atribuicao_interacao_id FROM sales WHERE organizacao_id = :o "
                "AND atribuicao_interacao_id IS NOT NULL"
            ),
            {"o": org_id},
        ).all()
    assert {(r.id, r.atribuicao_interacao_id) for r in credited} == {
        (r.venda_id, r.interacao_id) for r in rows
    }
    return {r.venda_id: tuple(r[1:]) for r in rows}


@pytest.mark.parametrize("seed", range(6))
def test_each_sale_is_credited_to_the_last_message_its_campaign_window_covers(engine, seed):
    rng = random.Random(seed)
    org = make_org(engine)
    clients = [add_client(engine, org) for _ in range(2)]
    sales, messages = [], []
    with engine.begin() as conn:
        windows = {_campaign(conn, org, days): days for days in (1, 3, 14)}
        campaigns = [*windows, None]
        for n in range(60):
            message = {
                "client": rng.choice(clients),
                "campaign": rng.choice(campaigns),
                "at": rng.choice([*INSTANTS, None]),
                "status": rng.choice([*SENT, *SENT, "FALHOU", "PENDENTE"]),
                "kind": rng.choice(["ENVIO-MENSAGEM"] * 5 + ["ATENDIMENTO"]),
            }
            _message(conn, org, *message.values(), n)
            messages.append(message)
        for n in range(40):
            sale = {
                "client": rng.choice([*clients, None]),
                "value": Decimal(rng.randint(100, 9999)) / 100,
                "at": rng.choice(INSTANTS),
                "valid": rng.random() < 0.85,
            }
            sale["id"] = _sale(conn, org, *sale.values(), n)
            sales.append(sale)
        ids = conn.execute(
            sa.text("SELECT chave_idempotencia, id FROM interactions WHERE organizacao_id = :o"),
            {"o": org},
        ).all()
    by_key = dict(ids)
    for n, message in enumerate(messages):
        message["id"] = by_key[f"m{n}"]

    counts = attribute_sales(engine, org, DAY)

    expected = _expected(sales, messages, windows)
    assert expected, "the draw should credit some sale"
    assert counts.attributed == counts.conversions_written == len(expected)
    assert _conversions(engine, org) == expected

    assert attribute_sales(engine, org, DAY).conversions_written == 0
    credited = next(iter(expected))
    cancel_sale(engine, credited)
    next(s for s in sales if s["id"] == credited)["valid"] = False
    counts = attribute_sales(engine, org, DAY)
    assert counts.conversions_removed >= 1
    assert _conversions(engine, org) == _expected(sales, messages, windows)


def test_the_last_covering_message_wins_ties_by_id_and_windows_by_campaign(engine):
    org = make_org(engine)
    client = add_client(engine, org)
    sold_at = datetime.combine(DAY, time(12), tzinfo=SP)
    with engine.begin() as conn:
        short, long = _campaign(conn, org, 1), _campaign(conn, org, 14)
        sent = [
            (long, sold_at - timedelta(days=14)),  # 0: at the edge of its window: covers
            (short, sold_at - timedelta(days=1, seconds=1)),  # 1: just outside its window
            (long, sold_at - timedelta(days=2)),  # 2
            (short, sold_at - timedelta(days=2)),  # 3: later, but outside its window
            (long, sold_at + timedelta(seconds=1)),  # 4: after the sale
        ]
        for n, (campaign, at) in enumerate(sent):
            _message(conn, org, client, campaign, at, "ENVIADO", "ENVIO-MENSAGEM", n)
        sale = _sale(conn, org, client, Decimal("10.00"), sold_at, True, 0)
        # Two messages at the same instant, and the sale's own instant: the greatest id wins.
        for n in (5, 6):
            _message(conn, org, client, short, sold_at, "LIDO", "ENVIO-MENSAGEM", n)
        ids = dict(
            conn.execute(
                sa.text(
                    "SELECT chave_idempotencia, id FROM interactions WHERE organizacao_id = :o"
                ),
                {"o": org},
            ).all()
        )

    attribute_sales(engine, org, DAY)
    assert _conversions(engine, org)[sale][0] == max(ids["m5"], ids["m6"])

    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE interactions SET status_envio = 'FALHOU' WHERE id = ANY(:ids)"),
            {"ids": [ids["m5"], ids["m6"]]},
        )
    attribute_sales(engine, org, DAY)
    assert _conversions(engine, org)[sale][0] == ids["m2"]

    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE interactions SET status_envio = 'FALHOU' WHERE id = :i"),
            {"i": ids["m2"]},
        )
    attribute_sales(engine, org, DAY)
    assert _conversions(engine, org)[sale][0] == ids["m0"]


def test_a_sale_is_never_credited_to_the_message_it_triggered_itself(engine):
    """The ERP's time of a sale can be later than the send time of the welcome message the
    sale itself fired (the sync saw the sale, and sent, before the time the ERP records)."""
    org = make_org(engine)
    client = add_client(engine, org)
    sold_at = datetime.combine(DAY, time(12), tzinfo=SP)
    with engine.begin() as conn:
        campaign = _campaign(conn, org, 14)
        sale = _sale(conn, org, client, Decimal("80.00"), sold_at, True, 0)
        _message(conn, org, client, campaign, sold_at - timedelta(hours=1), "ENVIADO",
                 "ENVIO-MENSAGEM", "own")  # fmt: skip
        conn.execute(
            sa.text("UPDATE interactions SET venda_id = :s WHERE chave_idempotencia = 'mown'"),
            {"s": sale},
        )

    counts = attribute_sales(engine, org, DAY)

    assert counts.attributed == 0 and _conversions(engine, org) == {}

    # An earlier message of the client, not triggered by this sale, is what it is credited to.
    with engine.begin() as conn:
        _message(conn, org, client, campaign, sold_at - timedelta(days=2), "LIDO",
                 "ENVIO-MENSAGEM", "earlier")  # fmt: skip
        earlier = conn.scalar(
            sa.text("SELECT id FROM interactions WHERE chave_idempotencia = 'mearlier'")
        )
    counts = attribute_sales(engine, org, DAY)
    assert (counts.attributed, counts.attributed_by_erp_time) == (1, 1)
    assert _conversions(engine, org)[sale][0] == earlier
    with engine.connect() as conn:
        assert (
            conn.scalar(
                sa.text(
                    "SELECT data_conversao_precisao FROM campaign_conversions WHERE venda_id = :s"
                ),
                {"s": sale},
            )
            == "ERP"
        )
