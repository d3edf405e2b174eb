"""Partners' CPF/CNPJ are stored masked as the CRM application stores them, and matched to the
CRM's clients by their digits whatever their mask."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from recompra_pipelines.sync import steps
from recompra_pipelines_tests.campaigns.test_purchase_campaigns import DAY, _sale
from recompra_pipelines_tests.helpers import fast_erp, new_org


def test_partner_documents_are_masked_and_matched_by_digits(engine, erp_simulator):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    with engine.begin() as conn:
        # A client the CRM application registered with its CPF, masked.
        known = conn.scalar(
            sa.text(
                "INSERT INTO clients (organizacao_id, nome, nome_chave, cpf_cnpj)"
                " VALUES (:o, 'Rita Parceira', 'rita parceira', '529.982.247-25') RETURNING id"
            ),
            {"o": org_id},
        )
    sales = [
        {**_sale("P1", "Ana Souza", "34999990001", "40.00", "10:00"), "parceiro": "52998224725"},
        {
            **_sale("P2", "Bruno Lima", "11988887777", "60.00", "11:00"),
            "parceiro": "11222333000181",
        },
    ]
    simulator.configure(token, sales_per_day=0, extra_sales=sales)

    for _ in range(2):  # a re-run creates nothing more
        steps.fetch_raw_extract(engine, org_id, DAY, fast_erp().fetch_settings())
        steps.normalize_sales(engine, org_id, DAY, now=datetime.now(UTC))
        steps.upsert_day_entities(engine, org_id, DAY)

    with engine.connect() as conn:
        partners = {
            row.identificador: (row.cpf_cnpj, row.cliente_id)
            for row in conn.execute(
                sa.text("SELECT * FROM partners WHERE organizacao_id = :o"), {"o": org_id}
            )
        }
        documents = sorted(
            conn.scalars(
                sa.text(
                    "SELECT cpf_cnpj FROM clients WHERE organizacao_id = :o AND cpf_cnpj IS NOT NULL"
                ),
                {"o": org_id},
            )
        )
    assert partners["52998224725"] == ("529.982.247-25", known)
    assert partners["11222333000181"][0] == "11.222.333/0001-81"
    assert documents == ["11.222.333/0001-81", "529.982.247-25"]
