"""Sales that vanish from the ERP's day: removed (effects reversed once) only after two
complete answers without them; a failed or partial answer changes nothing; a sale listed again
comes back as a new revision whose effects happen once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from recompra_pipelines.sync import steps
from recompra_pipelines.sync.ledger_steps import reconcile_day_cashback
from recompra_pipelines_tests.campaigns.test_purchase_campaigns import DAY, _sale
from recompra_pipelines_tests.helpers import fast_erp, new_org

PROGRAM = {"accrual_type": "PERCENTUAL", "accrual_value": 10}


def _sync(engine, org_id):
    """The sync steps up to the ledger, as one scheduled run does them."""
    steps.fetch_raw_extract(engine, org_id, DAY, fast_erp().fetch_settings())
    steps.normalize_sales(engine, org_id, DAY, now=datetime.now(UTC))
    steps.upsert_day_entities(engine, org_id, DAY)
    sales = steps.load_day_sales(engine, org_id, DAY)
    return sales, reconcile_day_cashback(engine, org_id, DAY)


def _state(engine, org_id, external_id: str):
    with engine.connect() as conn:
        sale = conn.execute(
            sa.text("SELECT * FROM sales WHERE organizacao_id = :o AND id_externo = :e"),
            {"o": org_id, "e": external_id},
        ).one()
        available = conn.scalar(
            sa.text(
                "SELECT saldo_valor_disponivel FROM cashback_program_balances"
                " WHERE organizacao_id = :o AND cliente_id = :c"
            ),
            {"o": org_id, "c": sale.cliente_id},
        )
    return sale, available


@pytest.fixture
def store(engine, erp_simulator):
    """An Online Software store with two sales of one client (R$ 100,00 and R$ 50,00)."""
    simulator, url = erp_simulator
    org_id, token = new_org(
        engine, url, cashback_program=PROGRAM, effects_start=str(DAY.replace(day=1))
    )
    kept = _sale("K", "Ana Souza", "34999990001", "50.00", "09:00")
    vanishing = _sale("V", "Ana Souza", "34999990001", "100.00", "10:00")
    simulator.configure(token, sales_per_day=0, extra_sales=[kept, vanishing])
    _sync(engine, org_id)
    assert _state(engine, org_id, "V")[1] == D("15.00")
    return simulator, token, org_id, kept, vanishing


def test_a_sale_missing_from_two_complete_answers_is_removed_and_reversed_once(engine, store):
    simulator, token, org_id, kept, _ = store
    simulator.configure(token, extra_sales=[kept])

    sales, ledger = _sync(engine, org_id)

    # One answer without it could be a glitch: noted, nothing else changes.
    assert (sales.absent, sales.removed, ledger.reversals) == (1, 0, 0)
    sale, available = _state(engine, org_id, "V")
    assert sale.ausente_desde is not None and sale.data_remocao is None and sale.valida
    assert available == D("15.00")

    sales, ledger = _sync(engine, org_id)  # the same answer again, a later capture

    assert (sales.absent, sales.removed, ledger.reversals) == (0, 1, 1)
    sale, available = _state(engine, org_id, "V")
    assert (sale.valida, sale.cancelada, sale.remocao_motivo) == (False, True, "AUSENTE_DO_ERP")
    assert sale.data_remocao is not None and sale.data_cancelamento is not None
    assert available == D("5.00")
    with engine.connect() as conn:
        assert (
            conn.scalar(
                sa.text(
                    "SELECT metadados->>'motivo' FROM cashback_program_transactions"
                    " WHERE organizacao_id = :o AND tipo = 'CANCELAMENTO'"
                ),
                {"o": org_id},
            )
            == "VENDA_REMOVIDA"
        )
        # Purchase totals count valid sales only.
        assert (
            conn.scalar(
                sa.text("SELECT metadata_total_compras FROM clients WHERE id = :c"),
                {"c": sale.cliente_id},
            )
            == 1
        )

    sales, ledger = _sync(engine, org_id)  # and again: nothing more
    assert (sales.absent, sales.removed, ledger.reversals) == (0, 0, 0)


def test_a_failed_or_partial_answer_removes_nothing(engine, store):
    simulator, token, org_id, kept, _ = store
    # A failed answer: the run stops before anything is read.
    simulator.configure(token, extra_sales=[kept], fail_next=[500, 500, 500])
    with pytest.raises(steps.SyncError):
        steps.fetch_raw_extract(engine, org_id, DAY, fast_erp().fetch_settings())
    # A partial one: a record without an id was quarantined, it could be the missing sale.
    no_id = {
        k: v
        for k, v in _sale("X", "Bruno Lima", "11988887777", "20.00", "11:00").items()
        if k != "id"
    }
    simulator.configure(token, extra_sales=[kept, no_id], fail_next=[])
    for _ in range(2):
        sales, ledger = _sync(engine, org_id)
        assert (sales.absent, sales.removed, ledger.reversals) == (0, 0, 0)
    # An answer listing no sale at all: an outage looks just like it.
    simulator.configure(token, extra_sales=[], empty_day_message="Nenhuma venda encontrada")
    for _ in range(2):
        sales, ledger = _sync(engine, org_id)
        assert (sales.absent, sales.removed, ledger.reversals) == (0, 0, 0)
    simulator.configure(token, empty_day_message=None)
    sale, available = _state(engine, org_id, "V")
    assert (sale.ausente_desde, sale.data_remocao, sale.valida) == (None, None, True)
    assert available == D("15.00")


def test_a_sale_listed_again_comes_back_as_a_new_revision_whose_effects_happen_once(engine, store):
    simulator, token, org_id, kept, vanishing = store
    simulator.configure(token, extra_sales=[kept])
    _sync(engine, org_id)
    _sync(engine, org_id)
    assert _state(engine, org_id, "V")[1] == D("5.00")

    simulator.configure(token, extra_sales=[kept, vanishing])
    sales, ledger = _sync(engine, org_id)

    assert (sales.revalidated, ledger.accruals) == (1, 1)
    sale, available = _state(engine, org_id, "V")
    assert (sale.valida, sale.cancelada, sale.validade_revisao) == (True, False, 1)
    assert (sale.ausente_desde, sale.data_remocao, sale.remocao_motivo) == (None, None, None)
    assert available == D("15.00")
    sales, ledger = _sync(engine, org_id)
    assert (sales.updated, ledger.accruals, ledger.reversals) == (0, 0, 0)
    assert _state(engine, org_id, "V")[1] == D("15.00")


def test_one_answer_without_a_sale_then_one_with_it_forgets_the_absence(engine, store):
    simulator, token, org_id, kept, vanishing = store
    simulator.configure(token, extra_sales=[kept])
    assert _sync(engine, org_id)[0].absent == 1
    simulator.configure(token, extra_sales=[kept, vanishing])
    _sync(engine, org_id)
    simulator.configure(token, extra_sales=[kept])

    sales, _ = _sync(engine, org_id)  # missing again: a new first absence, not a removal

    assert (sales.absent, sales.removed) == (1, 0)
