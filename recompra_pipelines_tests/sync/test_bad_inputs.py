"""Bad ERP input: the bad record is quarantined with its reason, the rest loads, nothing
already stored is lost; an unreadable payload fails the run and changes no CRM row."""

from __future__ import annotations

import gzip
from datetime import date

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.checks.erp_sync_checks import erp_raw_extract_is_readable
from recompra_pipelines_tests.helpers import count, materialize_day, metadata, new_org, row_versions

DAY = date(2026, 11, 18)


def test_malformed_records_are_quarantined_while_the_rest_loads(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=40)
    assert materialize_day(instance, database_url, org_id, DAY).success
    stored_before = row_versions(engine, org_id)

    simulator.configure(token, malformed_records=3)
    broken = simulator.malformed_ids_for(token, DAY)
    assert len(broken) == 3
    result = materialize_day(instance, database_url, org_id, DAY)

    assert result.success
    normalized = metadata(result, "erp_normalized_sales")
    assert normalized["quarantined"] == 3
    rate = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "erp_quarantine_rate"
    )
    assert not rate.passed and rate.severity.value == "WARN"  # 3 of ~40 records is above 5 %
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id_externo, campo, motivo, registro FROM erp_quarantine WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ).all()
    assert {row.id_externo for row in rows} == set(broken)
    for row in rows:
        assert row.campo and row.motivo and row.registro["id"] == row.id_externo
    # The broken versions changed nothing: every row stored before is still there, unchanged.
    assert row_versions(engine, org_id) == stored_before
    assert metadata(result, "crm_sales")["inserted"] == 0

    # Once the ERP sends the records right again, they load (and quarantine keeps its history).
    simulator.configure(token, malformed_records=0)
    assert materialize_day(instance, database_url, org_id, DAY).success
    assert (
        count(engine, "SELECT count(*) FROM erp_quarantine WHERE organizacao_id = :o", o=org_id)
        == 3
    )


def test_a_new_sale_with_a_bad_field_names_org_day_record_and_field(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    good = simulator.sales_for(token, DAY)[0]
    bad = {**good, "id": "bad-1", "itens": [{**good["itens"][0], "qtde": "-2"}]}
    nan = {**good, "id": "bad-2", "valor": "NaN"}
    simulator.configure(token, sales_per_day=5, extra_sales=[bad, nan])

    result = materialize_day(instance, database_url, org_id, DAY)

    assert result.success
    with engine.connect() as conn:
        reasons = dict(
            conn.execute(
                sa.text(
                    "SELECT id_externo, campo || ': ' || motivo FROM erp_quarantine WHERE organizacao_id = :o"
                ),
                {"o": org_id},
            ).all()
        )
    assert reasons == {
        "bad-1": "itens[0].qtde: must not be negative: '-2'",
        "bad-2": "valor: not a number: 'NaN'",
    }
    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == 5
    warnings = [
        e.user_message for e in instance.all_logs(result.run_id) if "quarantined" in e.user_message
    ]
    assert warnings == [
        f"2 record(s) quarantined for organization {org_id}, day {DAY} by field: "
        "{'itens.qtde': 1, 'valor': 1} (see erp_quarantine)"
    ]


def test_an_unreadable_payload_fails_the_run_keeps_the_raw_response_and_changes_nothing(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=20)
    assert materialize_day(instance, database_url, org_id, DAY).success
    stored_before = row_versions(engine, org_id)

    simulator.configure(token, non_list_resultado="Erro interno: tente novamente")
    result = materialize_day(instance, database_url, org_id, DAY, raise_on_error=False)

    assert not result.success
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "erp_raw_extract_is_readable"
    )
    assert not check.passed
    assert "'resultado' is not a list of sales" in check.description
    assert "Erro interno" in check.description
    assert not result.asset_materializations_for_node("crm_sales")
    assert row_versions(engine, org_id) == stored_before
    with engine.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT conteudo_gzip, registros, erro_leitura FROM erp_raw_extracts"
                " WHERE organizacao_id = :o ORDER BY ultima_captura_em DESC"
            ),
            {"o": org_id},
        ).all()
    assert "Erro interno" in gzip.decompress(kept[0].conteudo_gzip).decode()
    # What reading found is stored with each response: why it is unreadable, or its records.
    assert kept[0].registros is None and "not a list of sales" in kept[0].erro_leitura
    assert kept[1].registros >= 20 and kept[1].erro_leitura is None

    # A response stored before responses were read on arrival is read by the check itself.
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE erp_raw_extracts SET erro_leitura = NULL WHERE organizacao_id = :o"),
            {"o": org_id},
        )
    again = materialize_day(
        instance,
        database_url,
        org_id,
        DAY,
        raise_on_error=False,
        selection=dg.AssetSelection.checks(erp_raw_extract_is_readable)
        | dg.AssetSelection.assets("erp_raw_extract"),
    )
    [check] = again.get_asset_check_evaluations()
    assert not check.passed and "Erro interno" in check.description
    simulator.configure(token, non_list_resultado=None)


def test_the_no_sales_message_loads_an_empty_day_and_the_run_succeeds(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=0, empty_day_message="Nenhuma venda encontrada")

    result = materialize_day(instance, database_url, org_id, DAY)

    assert result.success
    assert all(check.passed for check in result.get_asset_check_evaluations())
    assert metadata(result, "erp_normalized_sales")["received"] == 0
    assert metadata(result, "crm_sales")["staged"] == 0
    simulator.configure(token, empty_day_message=None)


def test_html_error_page_with_status_200_is_unreadable(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=3, response_mode="html_error")

    result = materialize_day(instance, database_url, org_id, DAY, raise_on_error=False)

    assert not result.success
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "erp_raw_extract_is_readable"
    )
    assert "not JSON" in check.description
    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == 0


def test_a_sale_whose_value_disagrees_with_its_items_raises_a_warning(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    good = simulator.sales_for(token, DAY)[0]
    off = {**good, "id": "off-1", "natureza": "SN01", "valor": "999.99"}
    simulator.configure(token, sales_per_day=4, extra_sales=[off])

    result = materialize_day(instance, database_url, org_id, DAY)

    assert result.success  # a warning, not a failure
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "crm_sale_totals_match_items"
    )
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["outside_tolerance"].value == 1


def test_an_erp_that_keeps_failing_fails_the_run_naming_org_and_day(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, fail_next=[503, 503, 503])

    result = materialize_day(instance, database_url, org_id, DAY, raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.to_string()
    assert f"organization {org_id}, day {DAY}" in message and "HTTP 503 after 3 attempts" in message
    assert token not in message
    assert (
        count(engine, "SELECT count(*) FROM erp_raw_extracts WHERE organizacao_id = :o", o=org_id)
        == 0
    )
