"""The `recompra` command as an operator uses it: org apply/add, sync, serve webhooks, demo."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime

import dagster as dg
import httpx
import sqlalchemy as sa
from click.testing import CliRunner

from recompra_pipelines.automation.erp_sync import CONTENT_HASH_TAG
from recompra_pipelines.cli import main
from recompra_pipelines.simulators import whatsapp_webhooks as hooks
from recompra_pipelines_tests.helpers import count, new_org

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
    # Given by reference: the database holds the variable's name, never the token.
    assert row.integracao_configuracao == {"token_env": "TEST_OS_TOKEN", "server_url": url}
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


def test_org_apply_names_the_whatsapp_fields_at_fault(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "id: loja-gw\nname: Loja\n"
        "whatsapp:\n"
        "  connection: {type: internal-gateway, gateway_url: 'ftp://gw', session_id: s1}\n"
        "  consent: {opt_out_keywords: [PARAR], opt_in_keywords: ['parar!'],"
        " unreachable_suppression_days: -1}\n"
    )
    result = CliRunner().invoke(main, ["org", "apply", str(path)])
    assert result.exit_code != 0
    for expected in (
        "whatsapp.connection.internal-gateway.gateway_url:",
        "whatsapp.connection.internal-gateway.secret_env: Field required",
        "whatsapp.consent.unreachable_suppression_days:",
    ):
        assert expected in result.output, expected
    path.write_text(
        "id: loja-gw\nname: Loja\nwhatsapp:\n"
        "  connection: {type: sms}\n"
        "  consent: {opt_out_keywords: [PARAR], opt_in_keywords: ['parar!']}\n"
    )
    result = CliRunner().invoke(main, ["org", "apply", str(path)])
    assert "connection type must be cloud-api (default) or internal-gateway" in result.output
    assert "parar cannot be both an opt-out and an opt-in keyword" in result.output


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


def test_serve_webhooks_needs_its_secrets(monkeypatch):
    monkeypatch.delenv("WHATSAPP_APP_SECRET", raising=False)
    monkeypatch.setenv("WHATSAPP_WEBHOOK_VERIFY_TOKEN", "v")
    result = CliRunner().invoke(main, ["serve", "webhooks", "--port", "1"])
    assert result.exit_code != 0
    assert "set WHATSAPP_APP_SECRET" in result.output


def test_serve_webhooks_runs_the_receiver(database_url, tmp_path):
    """`recompra serve webhooks --port N` in its own process, as Kubernetes runs it."""
    port = free_port()
    secret, token = secrets.token_hex(8), secrets.token_hex(8)
    env = {
        **os.environ,
        "WHATSAPP_APP_SECRET": secret,
        "WHATSAPP_WEBHOOK_VERIFY_TOKEN": token,
        "RECOMPRA_DATABASE_URL": database_url,
    }
    log = (tmp_path / "receiver.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "recompra_pipelines.cli", "serve", "webhooks", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base + "/healthz", process)
        challenge = httpx.get(
            base + "/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "77"},
        )
        assert challenge.text == "77"
        payload = hooks.webhook(
            "104857600000009",
            messages=[hooks.text_message("5534999998888", "PARAR", datetime.now(UTC))],
        )
        body = hooks.encode(payload)
        stored = httpx.post(
            base + "/webhooks/whatsapp", content=body, headers=hooks.signed_headers(secret, body)
        )
        assert stored.json() == {"events": 1, "applied": 0, "pending": 1}  # nobody's number
    finally:
        process.terminate()
        process.wait(timeout=30)
    log.seek(0)
    output = log.read()
    # Neither the secrets, the phone nor the text reach the log.
    assert "webhook: 1 event(s)" in output
    for private in (secret, token, "5534999998888", "PARAR"):
        assert private not in output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the receiver exited with {process.returncode}")
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the receiver did not become healthy")


def test_the_demo_wires_the_simulator_to_the_receiver(database_url, monkeypatch):
    """The demo's receiver and WhatsApp simulator, on free ports: a customer's reply posted
    through the simulator arrives signed at the receiver and is stored."""
    from recompra_pipelines.demo import Demo, DemoPorts

    monkeypatch.delenv("WHATSAPP_APP_SECRET", raising=False)
    monkeypatch.delenv("WHATSAPP_WEBHOOK_VERIFY_TOKEN", raising=False)
    monkeypatch.setenv("WHATSAPP_GRAPH_URL", "http://127.0.0.1:9")
    with contextlib.ExitStack() as stack:
        wiring = Demo(stack, DemoPorts.free(), once=True)
        wiring.start_webhook_receiver()
        wiring.start_whatsapp_simulator()
        reply = httpx.post(
            f"{os.environ['WHATSAPP_GRAPH_URL']}/_sim/replies",
            json={"phone_number_id": "104857600000007", "from": "5534999998888", "text": "oi"},
        )
        assert reply.status_code == 200
        wamid = reply.json()["id"]
        engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
        deadline = time.monotonic() + 30
        stored = 0
        while not stored and time.monotonic() < deadline:
            with engine.connect() as conn:
                stored = conn.scalar(
                    sa.text("SELECT count(*) FROM whatsapp_eventos WHERE whatsapp_message_id = :w"),
                    {"w": wamid},
                )
            time.sleep(0.1)
        engine.dispose()
    assert stored == 1


def test_an_unchanged_day_is_skipped_and_says_why(engine, erp_simulator, monkeypatch, tmp_path):
    simulator, url = erp_simulator
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=12)
    runner = CliRunner()
    sync = ["sync", "--org", org_id, "--date", DAY.isoformat()]

    first = runner.invoke(main, sync)
    again = runner.invoke(main, sync)
    simulator.configure(token, sales_per_day=13)
    changed = runner.invoke(main, sync)
    forced = runner.invoke(main, [*sync, "--force"])

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        runs = instance.get_runs()[::-1]  # oldest first
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 3
    first_run, changed_run, forced_run = runs
    assert first.exit_code == 0 and org_id in first.stdout.splitlines()[-1]
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == (
        f"{org_id} {DAY}: skipped, no run started: the ERP's answer is unchanged since run "
        f"{first_run.run_id}, which succeeded (content "
        f"{first_run.tags[CONTENT_HASH_TAG][:16]}). `--force` syncs it anyway."
    )
    assert forced.exit_code == 0 and "skipped" not in forced.output
    assert CONTENT_HASH_TAG not in forced_run.tags  # not checked, so no content to vouch for
    assert changed.exit_code == 0 and "skipped" not in changed.output
    assert changed_run.tags[CONTENT_HASH_TAG] != first_run.tags[CONTENT_HASH_TAG]
    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == 13


def test_without_dagster_home_an_unchanged_day_is_skipped_without_loading_dagster(
    engine, erp_simulator, monkeypatch
):
    """No Dagster instance, so no earlier run to ask: the CRM's record of the last complete
    sync decides, in a process that never imports Dagster. A change, then the earlier answer
    again, runs each time: the CRM holds what the last run staged, not the earlier answer."""
    simulator, url = erp_simulator
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=12)
    sync = ["sync", "--org", org_id, "--date", DAY.isoformat()]
    in_a_fresh_process = (
        "import sys; from recompra_pipelines.cli import main; "
        "main(sys.argv[1:], standalone_mode=False); "
        "print('dagster imported:', 'dagster' in sys.modules)"
    )
    runner = CliRunner()

    def outcome(result) -> str:
        assert result.exit_code == 0, result.output
        return "skipped" if "skipped, no run started" in result.output else "ran"

    asked = len(simulator.requests_for(token))
    first = runner.invoke(main, sync)
    first_content = _staged_hash(engine, org_id)
    # Never synced whole: nothing to compare an answer with, so only the run asks the ERP.
    assert len(simulator.requests_for(token)) - asked == 1
    again = subprocess.run(
        [sys.executable, "-c", in_a_fresh_process, *sync], capture_output=True, text=True
    )
    simulator.configure(token, sales_per_day=13)
    changed = runner.invoke(main, sync)
    simulator.configure(token, sales_per_day=12)
    earlier_answer = runner.invoke(main, sync)
    # The 13th sale is missing from that answer: only a second answer confirms it gone.
    confirmed = runner.invoke(main, sync)
    settled = runner.invoke(main, sync)

    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        f"{org_id} {DAY}: skipped, no run started: the ERP's answer is the content the last "
        f"complete sync of this day processed (content {first_content[:16]}). "
        "`--force` syncs it anyway.",
        "dagster imported: False",
    ]
    assert [outcome(r) for r in (first, changed, earlier_answer, confirmed, settled)] == [
        "ran", "ran", "ran", "ran", "skipped"
    ]  # fmt: skip
    forced = runner.invoke(main, [*sync, "--force"])
    after_forced = runner.invoke(main, sync)
    # A forced run completes the day like any other: the next call compares with it.
    assert [outcome(r) for r in (forced, after_forced)] == ["ran", "skipped"]


def _staged_hash(engine: sa.Engine, org_id: str) -> str:
    with engine.connect() as conn:
        return conn.scalar(
            sa.text("SELECT hash_conteudo FROM erp_staging_extracts WHERE organizacao_id = :o"),
            {"o": org_id},
        )
