"""Interactions go in by COPY, each exactly once: the campaign steps drop the keys that exist
under the organization lock, so a key that turns up anyway is someone writing without it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from recompra_pipelines.db import campaign_interactions as store
from recompra_pipelines.domain.campaign_rules import Campaign, Decision, Purchase
from recompra_pipelines_tests.cashback.ledger_helpers import SP, add_client, add_sale, make_org
from recompra_pipelines_tests.helpers import count

DAY = date(2026, 3, 2)


def test_a_key_written_meanwhile_fails_the_step_instead_of_doubling(engine):
    org = make_org(engine)
    client = add_client(engine, org)
    sale = add_sale(engine, org, client, "30", DAY)
    with engine.begin() as conn:
        campaign_id = conn.scalar(
            sa.text(
                "INSERT INTO campaigns (organizacao_id, chave, titulo, gatilho_tipo) "
                "VALUES (:o, 'nova', 'Nova', 'NOVA-COMPRA') RETURNING id"
            ),
            {"o": org},
        )
    campaign = Campaign(
        id=campaign_id, title="Nova", trigger="NOVA-COMPRA", segmentations=frozenset()
    )
    purchase = Purchase(
        sale_id=sale, sale_revision=0, client_id=client, value=Decimal("30.00"),
        time=datetime.combine(DAY, time(12), tzinfo=SP), position=2,
        running_total=Decimal("60.00"), rfm_title=None, seller_name=None,
    )  # fmt: skip
    decisions = [Decision(campaign, purchase)]
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)

    with engine.begin() as conn:
        (inserted,) = store.insert_interactions(conn, org, decisions, SP, now, {})
    assert inserted[1] is decisions[0]

    with pytest.raises(store.InteractionConflict), engine.begin() as conn:
        store.insert_interactions(conn, org, decisions, SP, now, {})
    assert count(engine, "SELECT count(*) FROM interactions WHERE organizacao_id = :o", o=org) == 1
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT id, metadados, status_envio FROM interactions WHERE organizacao_id = :o"
            ),
            {"o": org},
        ).one()
    assert row.id == inserted[0] and row.status_envio == "PENDENTE"
    assert row.metadados["compraValor"] == "30.00"
