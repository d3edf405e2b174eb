"""Golden cases of the ledger against the real database: accrual, reversal, campaign
cashback, redemption and expiry, each checked to the centavo and with every invariant."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal as D
from uuid import uuid4

import pytest
import sqlalchemy as sa

from recompra_pipelines.db import ledger
from recompra_pipelines.db.ledger import books
from recompra_pipelines.sync.ledger_steps import expire_day_cashback, reconcile_day_cashback
from recompra_pipelines_tests.cashback.ledger_helpers import (
    SP,
    add_client,
    add_partner,
    add_sale,
    assert_consistent,
    balance,
    cancel_sale,
    edit_sale,
    entries,
    ledger_versions,
    make_org,
    reassign_sale,
    revalidate_sale,
)
from recompra_pipelines_tests.helpers import count

DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 18, tzinfo=UTC)


def _redeem(engine, org_id, client_id, amount, reference=None, **kwargs):
    with engine.begin() as conn:
        return ledger.redeem(
            conn,
            org_id=org_id,
            client_id=client_id,
            amount=D(amount),
            reference=reference or uuid4().hex,
            now=kwargs.pop("now", NOW),
            **kwargs,
        )


def test_percent_accrual_is_rounded_once_and_a_missing_balance_row_is_created(engine):
    org = make_org(engine, accrual_value="2.5")
    client = add_client(engine, org)
    add_sale(engine, org, client, "10.10", DAY)
    add_sale(engine, org, client, "10.10", DAY)
    assert balance(engine, org, client) is None

    counts = reconcile_day_cashback(engine, org, DAY)

    # Each sale earns 0.2525 -> 0.25 (rounded per sale, not on the sum 0.505 -> 0.51).
    assert (counts.accruals, counts.balances_created, counts.accrued) == (2, 1, D("0.50"))
    assert balance(engine, org, client) == (D("0.50"), D("0.50"), D("0.00"))
    assert_consistent(engine, org)


def test_minimum_sale_value_inactive_program_and_integration_switch(engine):
    org = make_org(engine, accrual_type="FIXO", accrual_value="5", minimum_sale_value="20.00")
    client = add_client(engine, org)
    add_sale(engine, org, client, "19.99", DAY)
    add_sale(engine, org, client, "20.00", DAY)
    assert reconcile_day_cashback(engine, org, DAY).accrued == D("5.00")

    inactive = make_org(engine, active=False)
    client = add_client(engine, inactive)
    add_sale(engine, inactive, client, "100", DAY)
    assert reconcile_day_cashback(engine, inactive, DAY).accruals == 0

    manual_only = make_org(engine, allow_via_integration=False)
    client = add_client(engine, manual_only)
    add_sale(engine, manual_only, client, "100", DAY)
    assert reconcile_day_cashback(engine, manual_only, DAY).accruals == 0
    assert balance(engine, manual_only, client) is None


def test_partner_accrual_goes_to_the_partner_client(engine):
    org = make_org(engine, accrual_value="10", partner_accrual_value="2")
    buyer, partner_client = add_client(engine, org), add_client(engine, org)
    partner = add_partner(engine, org, partner_client)
    add_sale(engine, org, buyer, "55.55", DAY, partner_id=partner)
    # The partner's own purchase earns it nothing twice; an anonymous sale still credits it.
    add_sale(engine, org, partner_client, "10.00", DAY, partner_id=partner)
    add_sale(engine, org, None, "100.00", DAY, partner_id=partner)
    # A partner without a linked client earns nothing.
    add_sale(engine, org, buyer, "10.00", DAY, partner_id=add_partner(engine, org, None))

    counts = reconcile_day_cashback(engine, org, DAY)

    assert (counts.accruals, counts.partner_accruals) == (3, 2)
    assert balance(engine, org, buyer)[0] == D("5.56") + D("1.00")
    assert balance(engine, org, partner_client)[0] == D("1.11") + D("1.00") + D("2.00")
    partner_entry = next(
        e for e in entries(engine, org, partner_client) if e.venda_valor == D("55.55")
    )
    assert partner_entry.metadados["ator"] == "PARCEIRO"
    assert partner_entry.metadados["cliente_comprador_id"] == str(buyer)
    assert_consistent(engine, org)


def test_sales_before_the_effects_start_load_with_no_accrual(engine):
    org = make_org(engine, effects_start="2026-03-02")
    client = add_client(engine, org)
    add_sale(engine, org, client, "100", DAY - timedelta(days=1))
    add_sale(engine, org, client, "100", DAY)
    assert reconcile_day_cashback(engine, org, DAY - timedelta(days=1)).accruals == 0
    assert reconcile_day_cashback(engine, org, DAY).accruals == 1


def test_expiry_is_counted_from_the_sale_date_even_in_a_backfill(engine):
    org = make_org(engine, expiry_days=30)
    client = add_client(engine, org)
    old_day = date(2025, 1, 10)
    add_sale(engine, org, client, "100", old_day)

    reconcile_day_cashback(engine, org, old_day, now=NOW)  # a backfill, a year later

    (lot,) = entries(engine, org, client)
    assert lot.expiracao_data == datetime(2025, 2, 9, tzinfo=SP)
    assert lot.data_efetivacao == datetime(2025, 1, 10, 12, tzinfo=SP)
    assert expire_day_cashback(engine, org, date(2025, 2, 8)).expired_lots == 0
    assert expire_day_cashback(engine, org, date(2025, 2, 9)).expired == D("10.00")
    assert balance(engine, org, client) == (D("0.00"), D("10.00"), D("0.00"))
    # Idempotent and backfillable: any later day, again, expires nothing more.
    before = ledger_versions(engine, org)
    for day in (date(2025, 2, 9), date(2025, 2, 10), date(2026, 1, 1)):
        assert expire_day_cashback(engine, org, day).expired_lots == 0
    assert ledger_versions(engine, org) == before
    expiry = entries(engine, org, client)[-1]
    assert (expiry.tipo, expiry.valor, expiry.transacao_origem_id) == (
        "EXPIRAÇÃO",
        D("-10.00"),
        lot.id,
    )
    assert_consistent(engine, org)


def test_expiry_writes_off_exactly_the_remaining_value_of_a_partly_spent_lot(engine):
    org = make_org(engine, expiry_days=10)
    client = add_client(engine, org)
    add_sale(engine, org, client, "100", DAY)
    reconcile_day_cashback(engine, org, DAY)
    _redeem(engine, org, client, "3.33")

    counts = expire_day_cashback(engine, org, DAY + timedelta(days=10))

    assert (counts.expired_lots, counts.expired) == (1, D("6.67"))
    assert balance(engine, org, client) == (D("0.00"), D("10.00"), D("3.33"))
    assert_consistent(engine, org)


def test_cancellation_writes_off_the_redeemed_part_by_default(engine):
    org = make_org(engine)
    client = add_client(engine, org)
    sale = add_sale(engine, org, client, "100", DAY, at=time(9))  # the older lot: spent first
    other = add_sale(engine, org, client, "50", DAY, at=time(10))
    reconcile_day_cashback(engine, org, DAY)
    _redeem(engine, org, client, "12.00")  # all of the first lot (10) + 2 of the second
    cancel_sale(engine, sale)

    counts = reconcile_day_cashback(engine, org, DAY)

    assert (counts.reversals, counts.reversed, counts.written_off) == (1, D("0.00"), D("10.00"))
    lot = next(
        e for e in entries(engine, org, client) if e.venda_id == sale and e.tipo == "ACÚMULO"
    )
    assert lot.status == "CONSUMIDO"  # the history of a spent lot is never rewritten
    assert balance(engine, org, client) == (D("3.00"), D("5.00"), D("12.00"))
    assert count(engine, "SELECT count(*) FROM sales WHERE id = :s", s=other) == 1
    assert reconcile_day_cashback(engine, org, DAY).reversals == 0
    assert_consistent(engine, org)


def test_cancellation_claws_back_into_a_negative_balance_when_the_program_says_so(engine):
    org = make_org(engine, reversal_of_redeemed="claw_back")
    client = add_client(engine, org)
    sale = add_sale(engine, org, client, "100", DAY)
    reconcile_day_cashback(engine, org, DAY)
    _redeem(engine, org, client, "8.00")
    cancel_sale(engine, sale)
    reconcile_day_cashback(engine, org, DAY)

    assert balance(engine, org, client) == (D("-8.00"), D("0.00"), D("8.00"))
    assert_consistent(engine, org)

    # The next accrual repays the debt first.
    add_sale(engine, org, client, "100", DAY + timedelta(days=1))
    reconcile_day_cashback(engine, org, DAY + timedelta(days=1))
    assert balance(engine, org, client) == (D("2.00"), D("10.00"), D("8.00"))
    lot = entries(engine, org, client)[-1]
    assert (lot.valor, lot.valor_restante) == (D("10.00"), D("2.00"))
    assert_consistent(engine, org)


def test_a_revalidated_sale_accrues_again_under_a_new_revision(engine):
    org = make_org(engine)
    client = add_client(engine, org)
    sale = add_sale(engine, org, client, "100", DAY)
    reconcile_day_cashback(engine, org, DAY)
    cancel_sale(engine, sale)
    reconcile_day_cashback(engine, org, DAY)
    revalidate_sale(engine, sale)
    assert reconcile_day_cashback(engine, org, DAY).accrued == D("10.00")
    assert balance(engine, org, client) == (D("10.00"), D("10.00"), D("0.00"))
    # Cancelled and valid again between two runs: the old revision is reversed, the new
    # one accrues, in one reconciliation.
    cancel_sale(engine, sale)
    revalidate_sale(engine, sale)
    counts = reconcile_day_cashback(engine, org, DAY)
    assert (counts.reversals, counts.accruals) == (1, 1)
    assert balance(engine, org, client) == (D("10.00"), D("10.00"), D("0.00"))
    keys = [e.chave_idempotencia for e in entries(engine, org, client) if e.tipo == "ACÚMULO"]
    assert [k.split(":")[2] for k in keys] == ["r0", "r1", "r2"]
    assert_consistent(engine, org)


def _edit_down_after_partial_redemption(engine, **program):
    """R$ 100,00 at 10 % earns R$ 10,00; R$ 6,00 of it is redeemed; the ERP then edits the
    sale to R$ 40,00, which earns R$ 4,00."""
    org = make_org(engine, **program)
    client = add_client(engine, org)
    sale = add_sale(engine, org, client, "100", DAY)
    reconcile_day_cashback(engine, org, DAY)
    _redeem(engine, org, client, "6.00")
    edit_sale(engine, sale, "40")
    counts = reconcile_day_cashback(engine, org, DAY)
    assert (counts.revisions, counts.accruals, counts.reversals) == (1, 0, 0)
    old, new = (e for e in entries(engine, org, client) if e.tipo == "ACÚMULO")
    reversal = next(e for e in entries(engine, org, client) if e.tipo == "CANCELAMENTO")
    assert reversal.transacao_origem_id == old.id
    assert reversal.metadados["motivo"] == "VENDA_ALTERADA"
    # The R$ 4,00 the new value earns paid for R$ 4,00 of what was redeemed.
    assert (new.valor, new.valor_restante, new.status) == (D("4.00"), D("0.00"), "CONSUMIDO")
    assert (new.venda_valor, new.venda_conteudo_revisao) == (D("40.00"), 1)
    assert new.chave_idempotencia == f"acumulo:{sale}:r0.c1:comprador:{client}"
    before = ledger_versions(engine, org)
    assert reconcile_day_cashback(engine, org, DAY) == ledger.LedgerCounts()
    assert ledger_versions(engine, org) == before
    assert_consistent(engine, org)
    return org, client, reversal


def test_edit_down_after_a_partial_redemption_writes_off_what_the_new_value_cannot_cover(engine):
    org, client, reversal = _edit_down_after_partial_redemption(engine)

    assert (reversal.valor, reversal.valor_baixa) == (D("-8.00"), D("2.00"))
    assert balance(engine, org, client) == (D("0.00"), D("4.00"), D("6.00"))


def test_edit_down_after_a_partial_redemption_claws_back_what_the_new_value_cannot_cover(
    engine,
):
    org, client, reversal = _edit_down_after_partial_redemption(
        engine, reversal_of_redeemed="claw_back"
    )

    assert (reversal.valor, reversal.valor_baixa) == (D("-10.00"), D("0.00"))
    assert balance(engine, org, client) == (D("-2.00"), D("4.00"), D("6.00"))
    # The next accrual repays the R$ 2,00 first.
    add_sale(engine, org, client, "50", DAY + timedelta(days=1))
    reconcile_day_cashback(engine, org, DAY + timedelta(days=1))
    assert balance(engine, org, client) == (D("3.00"), D("9.00"), D("6.00"))
    assert_consistent(engine, org)


def test_edit_up_keeps_what_was_redeemed_spent_and_edits_accrue_once_per_revision(engine):
    org = make_org(engine, partner_accrual_value="2")
    client, partner_client = add_client(engine, org), add_client(engine, org)
    sale = add_sale(
        engine, org, client, "100", DAY, partner_id=add_partner(engine, org, partner_client)
    )
    reconcile_day_cashback(engine, org, DAY)
    _redeem(engine, org, client, "6.00")
    edit_sale(engine, sale, "150")
    counts = reconcile_day_cashback(engine, org, DAY)

    assert (counts.revisions, counts.accrued) == (2, D("18.00"))  # buyer 15, partner 3
    assert balance(engine, org, client) == (D("9.00"), D("15.00"), D("6.00"))
    assert balance(engine, org, partner_client) == (D("3.00"), D("3.00"), D("0.00"))
    # 150 -> 100 -> 150 between two runs: one re-decision, for the latest revision, and the
    # balances do not move.
    edit_sale(engine, sale, "100")
    edit_sale(engine, sale, "150")
    assert reconcile_day_cashback(engine, org, DAY).revisions == 2
    assert balance(engine, org, client) == (D("9.00"), D("15.00"), D("6.00"))
    # A buyer change and an edit together: the old buyer's lot is reversed (its redeemed part
    # written off), the new buyer earns on the new value.
    other = add_client(engine, org)
    reassign_sale(engine, sale, other)
    edit_sale(engine, sale, "20")
    counts = reconcile_day_cashback(engine, org, DAY)
    assert (counts.reversals, counts.revisions, counts.accruals) == (1, 1, 1)
    assert balance(engine, org, client) == (D("0.00"), D("0.00"), D("6.00"))
    assert balance(engine, org, other) == (D("2.00"), D("2.00"), D("0.00"))
    assert balance(engine, org, partner_client) == (D("0.40"), D("0.40"), D("0.00"))
    assert_consistent(engine, org)


def test_campaign_cashback_is_once_per_interaction_and_reversed_with_its_sale(engine):
    org = make_org(engine)
    client = add_client(engine, org)
    sale = add_sale(engine, org, client, "100", DAY)
    reconcile_day_cashback(engine, org, DAY)
    campaign = _campaign(engine, org)
    interaction = uuid4()
    grant = dict(
        org_id=org,
        client_id=client,
        campaign_id=campaign,
        interaction_id=interaction,
        amount=D("7.005"),
        expires_on=date(2026, 4, 1),
        sale_id=sale,
        now=NOW,
    )
    with engine.begin() as conn:
        first = ledger.grant_campaign_cashback(conn, **grant)
    with engine.begin() as conn:
        assert ledger.grant_campaign_cashback(conn, **grant) == first
        assert (
            ledger.grant_campaign_cashback(
                conn, **grant | {"amount": D("0.004"), "interaction_id": uuid4()}
            )
            is None
        )
    assert balance(engine, org, client)[0] == D("17.01")

    cancel_sale(engine, sale)
    counts = reconcile_day_cashback(engine, org, DAY)

    assert counts.reversals == 2  # the buyer's accrual and the campaign's
    assert balance(engine, org, client) == (D("0.00"), D("0.00"), D("0.00"))
    with engine.begin() as conn:
        assert ledger.grant_campaign_cashback(conn, **grant | {"interaction_id": uuid4()}) is None
    assert_consistent(engine, org)


def test_campaign_cashback_of_many_interactions_is_one_pass_in_the_order_given(engine):
    org = make_org(engine)
    ana, bia = add_client(engine, org), add_client(engine, org)
    sale = add_sale(engine, org, ana, "100", DAY)
    cancelled = add_sale(engine, org, bia, "50", DAY)
    reconcile_day_cashback(engine, org, DAY)
    cancel_sale(engine, cancelled)
    reconcile_day_cashback(engine, org, DAY)
    campaign = _campaign(engine, org)
    twice = uuid4()
    grants = [
        ledger.CampaignGrant(ana, campaign, uuid4(), D("5.00"), date(2026, 4, 1), sale),
        ledger.CampaignGrant(bia, campaign, uuid4(), D("2.50"), None),
        ledger.CampaignGrant(ana, campaign, twice, D("1.255"), date(2026, 4, 1)),
        ledger.CampaignGrant(bia, campaign, uuid4(), D("3.00"), None, cancelled),  # not valid
        ledger.CampaignGrant(ana, campaign, uuid4(), D("0.004"), None),  # rounds to zero
        ledger.CampaignGrant(ana, campaign, twice, D("1.255"), date(2026, 4, 1)),
    ]
    with engine.begin() as conn:
        ids = ledger.grant_campaign_cashbacks(conn, org, grants, NOW)

    assert ids[0] and ids[1] and ids[2] and ids[3] is None and ids[4] is None
    assert ids[5] == ids[2]  # one interaction, one entry
    granted = {e.id: e for e in entries(engine, org) if e.campanha_id == campaign}
    assert len(granted) == 3
    # Each client's entries follow one another, as one grant after the other would write them.
    assert [
        (granted[i].valor, granted[i].saldo_valor_anterior, granted[i].saldo_valor_posterior)
        for i in ids[:3]
    ] == [
        (D("5.00"), D("10.00"), D("15.00")),
        (D("2.50"), D("0.00"), D("2.50")),
        (D("1.26"), D("15.00"), D("16.26")),
    ]
    assert granted[ids[0]].venda_id == sale and granted[ids[2]].venda_id is None
    assert granted[ids[0]].expiracao_data == datetime(2026, 4, 1, tzinfo=SP)
    assert granted[ids[1]].expiracao_data is None
    assert balance(engine, org, ana) == (D("16.26"), D("16.26"), D("0.00"))
    assert balance(engine, org, bia) == (D("2.50"), D("2.50"), D("0.00"))

    before = ledger_versions(engine, org)
    with engine.begin() as conn:
        assert ledger.grant_campaign_cashbacks(conn, org, grants, NOW) == ids
    assert ledger_versions(engine, org) == before
    assert_consistent(engine, org)


def _campaign(engine, org_id):
    with engine.begin() as conn:
        return conn.scalar(
            sa.text(
                "INSERT INTO campaigns (organizacao_id, chave, titulo, gatilho_tipo) "
                "VALUES (:o, :k, 'Teste', 'NOVA-COMPRA') RETURNING id"
            ),
            {"o": org_id, "k": uuid4().hex[:8]},
        )


def test_redemption_fifo_limits_replays_and_bad_input(engine):
    org = make_org(
        engine, expiry_days=30, redemption_limit_type="PERCENTUAL", redemption_limit_value="50"
    )
    client = add_client(engine, org)
    add_sale(engine, org, client, "100", DAY - timedelta(days=1))
    add_sale(engine, org, client, "100", DAY)
    reconcile_day_cashback(engine, org, DAY - timedelta(days=1))
    reconcile_day_cashback(engine, org, DAY)
    first_lot, second_lot = (e.id for e in entries(engine, org, client))

    redemption = _redeem(engine, org, client, "12.00", "pos-1", sale_value=D("30"))

    assert redemption.allocations == [(first_lot, D("10.00")), (second_lot, D("2.00"))]
    assert redemption.balance_after == D("8.00")
    replay = _redeem(engine, org, client, "12.00", "pos-1", sale_value=D("30"))
    assert replay.replayed and replay.transaction_id == redemption.transaction_id
    assert balance(engine, org, client) == (D("8.00"), D("20.00"), D("12.00"))
    with pytest.raises(ledger.RedemptionRejected):
        _redeem(engine, org, client, "5.00", "pos-1", sale_value=D("30"))  # reference reused
    with pytest.raises(ledger.RedemptionRejected):
        _redeem(engine, org, client, "5.00", sale_value=D("9.98"))  # over 50 % of the sale
    with pytest.raises(ledger.RedemptionRejected):
        _redeem(engine, org, client, "5.00")  # percentage limit needs the sale value
    with pytest.raises(ledger.RedemptionRejected):
        _redeem(engine, org, client, "1.001", sale_value=D("30"))
    with pytest.raises(ledger.RedemptionRejected):
        _redeem(engine, org, client, "-1", sale_value=D("30"))
    with pytest.raises(ledger.InsufficientBalance):
        _redeem(engine, org, client, "8.01", sale_value=D("100"))
    with pytest.raises(ledger.InsufficientBalance):
        _redeem(engine, org, add_client(engine, org), "1.00", sale_value=D("100"))
    # A lot past its expiry is not spendable even before the expiry run writes it off.
    with pytest.raises(ledger.InsufficientBalance):
        _redeem(engine, org, client, "1.00", sale_value=D("100"), now=NOW + timedelta(days=40))
    assert balance(engine, org, client) == (D("8.00"), D("20.00"), D("12.00"))
    assert_consistent(engine, org)


def test_a_ledger_key_written_meanwhile_rolls_the_step_back(engine):
    """Every writer checks keys under the locks; a key that turns up between that check and
    the write means someone wrote without them, and the step rolls back instead of doubling."""
    org = make_org(engine)
    client = add_client(engine, org)
    add_sale(engine, org, client, "100", DAY)
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)
    reconcile_day_cashback(engine, org, DAY, now)
    [accrual] = entries(engine, org, client)
    with engine.connect() as conn:
        program = ledger.active_program(conn, org)
    book = ledger.Book(balance=D("0"), lots=[])
    book.accrue(
        D("1.00"),
        expires_at=None,
        effective_at=now,
        attributes={"chave_idempotencia": accrual.chave_idempotencia},
    )

    with pytest.raises(ledger.LedgerConflict), engine.begin() as conn:
        books.write_books(conn, org, {(program.id, client): book}, now)

    assert [e.id for e in entries(engine, org, client)] == [accrual.id]
    assert_consistent(engine, org)
