"""A sale the ERP edits after its effects happened: cashback (program, partner and campaign
percentages) is decided again once, and unsent interactions it no longer qualifies for are
withdrawn with their cashback - through a real sync over the simulator."""

from __future__ import annotations

from decimal import Decimal as D

import sqlalchemy as sa

from recompra_pipelines_tests.campaigns.test_purchase_campaigns import (
    DAY,
    UNTIL_ATTRIBUTION,
    _sale,
)
from recompra_pipelines_tests.helpers import materialize_day, metadata, new_org

CAMPAIGNS = [
    {"key": "primeira", "title": "Primeira", "trigger": "PRIMEIRA-COMPRA",
     "cashback": {"type": "PERCENTUAL", "value": "10"}},
    {"key": "nova", "title": "Nova", "trigger": {"type": "NOVA-COMPRA", "minimum_sale_value": "50.00"},
     "cashback": {"type": "FIXO", "value": "5.00"}},
    {"key": "valor", "title": "Valor", "trigger": {"type": "VALOR-TOTAL-COMPRAS", "purchase_total": "100.00"}},
]  # fmt: skip


def _cashback(engine, org_id):
    """(key prefix, value, status, reason) of every ledger entry, in order."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                """SELECT split_part(chave_idempotencia, ':', 1) AS kind, valor, valor_restante,
                          metadados->>'motivo' AS motivo, venda_conteudo_revisao
                   FROM cashback_program_transactions WHERE organizacao_id = :o
                   ORDER BY data_insercao, tipo, valor"""
            ),
            {"o": org_id},
        ).all()


def test_an_edited_sale_redecides_its_cashback_and_withdraws_what_it_no_longer_earns(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(
        engine,
        url,
        campaigns=CAMPAIGNS,
        cashback_program={"accrual_type": "PERCENTUAL", "accrual_value": 5},
        effects_start=str(DAY.replace(day=1)),
    )
    first = _sale("A", "Ana Souza", "34999990001", "40.00", "10:00")
    second = _sale("B", "Ana Souza", "34999990001", "60.00", "15:00")
    simulator.configure(token, sales_per_day=0, extra_sales=[first, second])
    assert materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION).success
    # A: 5 % = 2.00 and PRIMEIRA 10 % = 4.00; B: 3.00, NOVA (>= 50) 5.00, VALOR crosses 100.
    with engine.connect() as conn:
        assert conn.scalar(
            sa.text(
                "SELECT saldo_valor_disponivel FROM cashback_program_balances WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ) == D("14.00")

    # The ERP edits A up to 55.00 and B down to 40.00 (the items follow the value).
    edited = [
        {**first, "valor": "55.00", "itens": [{**first["itens"][0], "valorunit": "55.00", "vprod": "55.00"}]},
        {**second, "valor": "40.00", "itens": [{**second["itens"][0], "valorunit": "40.00", "vprod": "40.00"}]},
    ]  # fmt: skip
    simulator.configure(token, extra_sales=edited)
    result = materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION)

    assert result.success
    assert metadata(result, "cashback_ledger")["revisions"] == 2
    campaign = metadata(result, "campaign_interactions")
    # B (40.00) no longer meets NOVA-COMPRA's minimum, and 55 + 40 no longer crosses 100.
    assert campaign["withdrawn_sale_changed"] == 2
    assert (campaign["cashback_revised"], campaign["cashback_reversed"]) == (1, 1)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                sa.text(
                    """SELECT c.chave || ':' || s.id_externo, i.status_envio || ':' || COALESCE(i.erro_codigo, '')
                       FROM interactions i JOIN campaigns c ON c.id = i.campanha_id
                       JOIN sales s ON s.id = i.venda_id WHERE i.organizacao_id = :o"""
                ),
                {"o": org_id},
            ).all()
        )
        available = conn.scalar(
            sa.text(
                "SELECT saldo_valor_disponivel FROM cashback_program_balances WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        )
    assert statuses == {
        "primeira:A": "PENDENTE:",
        "nova:B": "IGNORADO:VENDA_ALTERADA",
        "valor:B": "IGNORADO:VENDA_ALTERADA",
    }
    # A: 2.75 + PRIMEIRA 5.50; B: 2.00, NOVA's 5.00 reversed.
    assert available == D("10.25")
    reasons = sorted(r.motivo for r in _cashback(engine, org_id) if r.motivo)
    assert reasons == ["INTERACAO_RETIRADA", "VENDA_ALTERADA", "VENDA_ALTERADA", "VENDA_ALTERADA"]

    entries = _cashback(engine, org_id)
    again = materialize_day(instance, database_url, org_id, DAY, selection=UNTIL_ATTRIBUTION)
    assert metadata(again, "cashback_ledger")["revisions"] == 0
    assert metadata(again, "campaign_interactions")["cashback_revised"] == 0
    assert _cashback(engine, org_id) == entries
