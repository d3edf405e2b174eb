"""The `recompra` command as an operator uses it: org apply/add, sync, demo --once."""

from __future__ import annotations

import json
import secrets
from datetime import date

import sqlalchemy as sa
from click.testing import CliRunner

from recompra_pipelines.cli import main
from recompra_pipelines_tests.helpers import count

DAY = date(2026, 11, 17)


def _org_yaml(org_id: str, url: str, **overrides) -> str:
    lines = {
        "id": org_id,
        "name": "Loja Teste",
        "timezone": "America/Sao_Paulo",
        "effects_start": "2026-11-01",
        "integration": {"type": "online-software", "server_url": url, "token_env": "TEST_OS_TOKEN"},
        "cashback_program": {"accrual_type": "PERCENTUAL", "accrual_value": 5, "expiry_days": 90},
        **overrides,
    }
    return json.dumps(lines)


def test_org_apply_creates_then_changes_nothing_on_reapply(
    tmp_path, engine, erp_simulator, monkeypatch
):
    _, url = erp_simulator
    monkeypatch.setenv("TEST_OS_TOKEN", "token-from-env")
    org_id = f"cli-{secrets.token_hex(3)}"
    path = tmp_path / "org.json"
    path.write_text(_org_yaml(org_id, url))
    runner = CliRunner()

    first = runner.invoke(main, ["org", "apply", str(path)])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == org_id
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM organizations WHERE id = :o"), {"o": org_id}
        ).one()
        versions = conn.execute(
            sa.text("SELECT xmin::text FROM organizations WHERE id = :o"), {"o": org_id}
        ).scalar()
    assert row.integracao_tipo == "ONLINE-SOFTWARE"
    assert row.integracao_configuracao == {"token": "token-from-env", "server_url": url}
    assert str(row.efeitos_data_inicio) == "2026-11-01"
    assert (
        count(engine, "SELECT count(*) FROM cashback_programs WHERE organizacao_id = :o", o=org_id)
        == 1
    )

    again = runner.invoke(main, ["org", "apply", str(path)])
    assert again.exit_code == 0
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT xmin::text FROM organizations WHERE id = :o"), {"o": org_id}
            ).scalar()
            == versions
        )

    path.write_text(_org_yaml(org_id, url, name="Loja Renomeada"))
    assert runner.invoke(main, ["org", "apply", str(path)]).exit_code == 0
    assert (
        count(
            engine,
            "SELECT count(*) FROM organizations WHERE id = :o AND nome = 'Loja Renomeada'",
            o=org_id,
        )
        == 1
    )


def test_org_apply_reports_every_problem_with_its_field(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_OS_TOKEN", raising=False)
    path = tmp_path / "bad.yaml"
    path.write_text(
        "id: Bad|Id\nname: x\ntimezone: Mars/Olympus\n"
        "integration: {type: sap, token_env: TEST_OS_TOKEN}\n"
        "campaigns:\n  - {key: a, title: A, trigger: PRIMEIRA-COMPRA, schedule: {delay: {value: 1}, block: '13:00'}}\n"
    )
    result = CliRunner().invoke(main, ["org", "apply", str(path)])
    assert result.exit_code != 0
    for expected in (
        "id:",
        "timezone: unknown IANA timezone 'Mars/Olympus'",
        "integration.type: unknown integration type 'sap'",
        "13:00",
    ):
        assert expected in result.output, expected


def test_org_apply_rejects_unreadable_files(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed")
    result = CliRunner().invoke(main, ["org", "apply", str(path)])
    assert result.exit_code != 0 and "not valid YAML" in result.output
    missing = CliRunner().invoke(main, ["org", "apply", str(tmp_path / "nope.yaml")])
    assert missing.exit_code != 0 and "cannot read" in missing.output


def test_org_add_then_sync_one_partition(engine, erp_simulator, monkeypatch, tmp_path):
    simulator, url = erp_simulator
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    token = f"cli-token-{secrets.token_hex(3)}"
    simulator.configure(token, sales_per_day=12)
    runner = CliRunner()

    added = runner.invoke(
        main,
        [
            "org",
            "add",
            "--name",
            "Ótica São João",
            "--integration",
            "online-software",
            "--token",
            token,
            "--server-url",
            url,
        ],
    )
    assert added.exit_code == 0, added.output
    org_id = added.output.strip()
    assert org_id.startswith("otica-sao-joao-")
    assert token not in added.output

    synced = runner.invoke(main, ["sync", "--org", org_id, "--date", DAY.isoformat()])
    assert synced.exit_code == 0, synced.output
    header, _, row = synced.stdout.strip().splitlines()
    assert header.split() == [
        "org",
        "day",
        "fetched",
        "inserted",
        "updated",
        "unchanged",
        "cancelled",
        "quarantined",
        "checks",
        "messages",
    ]
    cells = row.split()
    assert cells[:2] == [org_id, DAY.isoformat()] and int(cells[3]) == 12
    passed, run = cells[8].split("/")
    assert passed == run and int(run) > 0
    assert token not in synced.output

    duplicate = runner.invoke(
        main,
        [
            "org",
            "add",
            "--id",
            org_id,
            "--name",
            "x",
            "--integration",
            "online-software",
            "--token",
            "t",
        ],
    )
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output


def test_sync_of_an_unknown_org_fails_clearly():
    result = CliRunner().invoke(main, ["sync", "--org", "no-such-org", "--date", "2026-11-17"])
    assert result.exit_code != 0
    assert "no-such-org" in result.output and "does not exist" in result.output
