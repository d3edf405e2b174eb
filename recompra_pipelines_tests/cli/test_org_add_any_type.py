"""`recompra org add` for any registered integration type: its fields are its config model's."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from click.testing import CliRunner

from recompra_pipelines.cli import main


def _stored(engine, org_id: str):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT integracao_tipo, integracao_configuracao FROM organizations WHERE id = :o"
            ),
            {"o": org_id},
        ).one()


def test_a_cardapio_web_organization_is_added_with_its_own_fields(engine):
    org_id = f"cw-{secrets.token_hex(3)}"
    result = CliRunner().invoke(
        main,
        [
            "org", "add", "--id", org_id, "--name", "Pizzaria", "--integration", "cardapio-web",
            "--set", "merchant_id=4242", "--set", "api_key_env=CW_API_KEY",
            "--set", "details_per_minute=600", "--server-url", "http://127.0.0.1:9",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = _stored(engine, org_id)
    assert row.integracao_tipo == "CARDAPIO-WEB"
    assert row.integracao_configuracao == {
        "merchant_id": "4242",
        "api_key_env": "CW_API_KEY",
        "server_url": "http://127.0.0.1:9",
        "details_per_minute": 600.0,
    }


def test_a_field_the_type_does_not_have_is_refused_with_the_fields_it_has():
    result = CliRunner().invoke(
        main,
        ["org", "add", "--name", "X", "--integration", "cardapio-web", "--token", "abcdef123"],
    )
    assert result.exit_code != 0
    assert "CARDAPIO-WEB has no field token; its fields: merchant_id, api_key" in result.output
    assert "abcdef123" not in result.output


def test_a_bad_value_names_its_field():
    result = CliRunner().invoke(
        main,
        [
            "org", "add", "--name", "X", "--integration", "cardapio-web",
            "--set", "merchant_id=1", "--set", "api_key=k3y-long-enough", "--set",
            "history_per_minute=-1",
        ],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "history_per_minute" in result.output and "greater than 0" in result.output
    assert "--set" in CliRunner().invoke(main, ["org", "add", "--help"]).output
