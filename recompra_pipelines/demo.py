"""`make demo`: the whole product on one machine, against the local simulators.

Embedded PostgreSQL (unless RECOMPRA_DATABASE_URL is set), migrations, the demo organizations
of `examples/demo/` applied through `org apply`, the ERP simulator on 127.0.0.1:8765, the
WhatsApp simulator on :8766 posting status webhooks to the webhook receiver on :8768, and
Dagster (UI on http://127.0.0.1:3000, daemon running the schedule and sensor). With `--once`
it syncs today for every demo organization, prints a table and exits.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa

from recompra_pipelines.db.engine import (
    DATABASE_URL_ENV,
    create_crm_engine,
    ensure_database,
    recompra_home,
    resolve_database_url,
)
from recompra_pipelines.db.migrate import upgrade

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_ORG_FILES = sorted((PROJECT_ROOT / "examples" / "demo").glob("*.*"))
ERP_SIMULATOR_PORT = 8765
WHATSAPP_SIMULATOR_PORT = 8766
CARDAPIO_WEB_SIMULATOR_PORT = 8767
WEBHOOK_RECEIVER_PORT = 8768
# In the demo, statuses take long enough to watch a message go delivered, then read, and one
# recipient in five answers PARAR, so later campaign messages to them are skipped (OPT_OUT).
DEMO_STATUS_TIMELINE = {"sent": 0.5, "delivered": 3.0, "read": 20.0, "reply": 5.0}
DEMO_OPT_OUT_EVERY = 5
# The demo stores' simulated clock starts late in their business day (08:00-22:00), so the demo
# has sales at any real hour, and new sales and cancellations keep arriving for a while.
DEMO_CLOCK_START = "18:00"
DAGSTER_UI_PORT = 3000


def run_demo(*, once: bool) -> int:
    database_url = resolve_database_url()
    os.environ[DATABASE_URL_ENV] = database_url
    upgrade(database_url)
    with ExitStack() as stack:
        _start_erp_simulator(stack, in_thread=once)
        _start_cardapio_web_simulator(stack)
        webhook_url = _start_webhook_receiver(stack)
        _start_whatsapp_simulator(stack, webhook_url)
        org_ids = _apply_demo_orgs()
        if once:
            return _sync_today(database_url, org_ids)
        return _run_dagster(database_url)


def _start_erp_simulator(stack: ExitStack, *, in_thread: bool) -> None:
    if _port_in_use(ERP_SIMULATOR_PORT):
        click.echo(f"ERP simulator: reusing what listens on 127.0.0.1:{ERP_SIMULATOR_PORT}")
        return
    if in_thread:
        from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator

        simulator = OnlineSoftwareSimulator()
        simulator.start_clock_today_at(DEMO_CLOCK_START)
        stack.enter_context(simulator.run_in_thread(port=ERP_SIMULATOR_PORT))
    else:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recompra_pipelines.cli",
                "simulate",
                "erp",
                "--port",
                str(ERP_SIMULATOR_PORT),
                "--clock-start",
                DEMO_CLOCK_START,
            ]  # fmt: skip
        )
        stack.callback(process.terminate)
    click.echo(f"ERP simulator on http://127.0.0.1:{ERP_SIMULATOR_PORT}")


def _start_cardapio_web_simulator(stack: ExitStack) -> None:
    """The CardápioWeb simulator, in this process (it lives as long as the demo does)."""
    if _port_in_use(CARDAPIO_WEB_SIMULATOR_PORT):
        click.echo(f"CardápioWeb simulator: reusing 127.0.0.1:{CARDAPIO_WEB_SIMULATOR_PORT}")
        return
    from recompra_pipelines.simulators.erp_cardapio_web import CardapioWebSimulator

    simulator = CardapioWebSimulator()
    simulator.start_clock_today_at(DEMO_CLOCK_START)
    stack.enter_context(simulator.run_in_thread(port=CARDAPIO_WEB_SIMULATOR_PORT))
    click.echo(f"CardápioWeb simulator on http://127.0.0.1:{CARDAPIO_WEB_SIMULATOR_PORT}")


def _start_webhook_receiver(stack: ExitStack) -> str:
    """The WhatsApp webhook receiver, in this process, with demo secrets unless
    WHATSAPP_APP_SECRET / WHATSAPP_WEBHOOK_VERIFY_TOKEN are set; returns its webhook URL."""
    from recompra_pipelines.messaging.webhook_receiver import (
        APP_SECRET_ENV,
        VERIFY_TOKEN_ENV,
        WEBHOOK_PATH,
        ReceiverSettings,
        create_app,
    )
    from recompra_pipelines.simulators.serving import serve_in_thread

    os.environ.setdefault(APP_SECRET_ENV, secrets.token_hex(16))
    os.environ.setdefault(VERIFY_TOKEN_ENV, secrets.token_hex(8))
    url = f"http://127.0.0.1:{WEBHOOK_RECEIVER_PORT}{WEBHOOK_PATH}"
    if _port_in_use(WEBHOOK_RECEIVER_PORT):
        click.echo(f"WhatsApp webhook receiver: reusing 127.0.0.1:{WEBHOOK_RECEIVER_PORT}")
        return url
    app = create_app(ReceiverSettings.from_env())
    stack.enter_context(serve_in_thread(app, name="webhook receiver", port=WEBHOOK_RECEIVER_PORT))
    click.echo(f"WhatsApp webhook receiver on {url}")
    return url


def _start_whatsapp_simulator(stack: ExitStack, webhook_url: str) -> None:
    """The Cloud API simulator, knowing the demo numbers and templates, in this process,
    posting signed status webhooks (and some customers' PARAR) to the receiver; Dagster's
    processes inherit WHATSAPP_GRAPH_URL pointing at it."""
    from recompra_pipelines.messaging.cloud_api import GRAPH_URL_ENV
    from recompra_pipelines.messaging.webhook_receiver import APP_SECRET_ENV
    from recompra_pipelines.simulators.whatsapp import StatusTimeline, simulator_for_org_files
    from recompra_pipelines.simulators.whatsapp_webhooks import WebhookSender

    if _port_in_use(WHATSAPP_SIMULATOR_PORT):
        click.echo(f"WhatsApp simulator: reusing 127.0.0.1:{WHATSAPP_SIMULATOR_PORT}")
    else:
        simulator = simulator_for_org_files(DEMO_ORG_FILES)
        sender = WebhookSender(webhook_url, os.environ[APP_SECRET_ENV])
        stack.callback(sender.close)
        simulator.configure_webhooks(
            sender,
            timeline=StatusTimeline(**DEMO_STATUS_TIMELINE),
            opt_out_every=DEMO_OPT_OUT_EVERY,
        )
        stack.enter_context(simulator.run_in_thread(port=WHATSAPP_SIMULATOR_PORT))
        click.echo(f"WhatsApp simulator on http://127.0.0.1:{WHATSAPP_SIMULATOR_PORT}")
    os.environ[GRAPH_URL_ENV] = f"http://127.0.0.1:{WHATSAPP_SIMULATOR_PORT}"


def _apply_demo_orgs() -> list[str]:
    from recompra_pipelines.orgfile.organization import load_org_file
    from recompra_pipelines.orgfile.writer import apply_org_file

    engine = create_crm_engine(os.environ[DATABASE_URL_ENV])
    org_ids = []
    try:
        for path in DEMO_ORG_FILES:
            org_file = load_org_file(path)
            with engine.begin() as conn:
                apply_org_file(conn, org_file)
            org_ids.append(org_file.id)
    finally:
        engine.dispose()
    click.echo(f"demo organizations: {', '.join(org_ids)}")
    return org_ids


def _sync_today(database_url: str, org_ids: list[str]) -> int:
    from recompra_pipelines.automation.materialize import (
        SyncSummary,
        dagster_instance,
        format_table,
        sync_partition,
    )

    instance = dagster_instance()
    engine = create_crm_engine(database_url)
    with engine.connect() as conn:
        zones = dict(
            conn.execute(
                sa.text("SELECT id, fuso_horario FROM organizations WHERE id = ANY(:ids)"),
                {"ids": org_ids},
            ).all()
        )
    engine.dispose()
    summaries = [
        sync_partition(instance, database_url, org_id, datetime.now(ZoneInfo(zones[org_id])).date())
        for org_id in org_ids
    ]
    click.echo(format_table([s.row() for s in summaries], SyncSummary.COLUMNS))
    failed = [s for s in summaries if not s.success]
    for summary in failed:
        click.echo(f"sync of {summary.org_id} failed: {summary.error}", err=True)
    return 1 if failed else 0


def _run_dagster(database_url: str) -> int:
    """Dagster's own storage goes in a `dagster` database on the same server (dagster.yaml)."""
    home = recompra_home() / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    dagster_db = sa.make_url(ensure_database(database_url, "dagster")).set(
        drivername="postgresql+psycopg2"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": dagster_db.render_as_string(hide_password=False),
    }
    click.echo(f"Dagster UI on http://127.0.0.1:{DAGSTER_UI_PORT} (Ctrl-C stops everything)")
    command = [
        sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
        "-h", "127.0.0.1", "-p", str(DAGSTER_UI_PORT),
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
