"""`make demo`: the whole product on one machine, against the local simulators.

Embedded PostgreSQL (unless RECOMPRA_DATABASE_URL is set), migrations, the demo organizations
of `examples/demo/` applied through `org apply`, the ERP simulators (Online Software on
127.0.0.1:8765, CardápioWeb on :8767), the WhatsApp simulator on :8766 posting status webhooks
to the webhook receiver on :8768, a loopback alert inbox, and Dagster (UI on
http://127.0.0.1:3000, daemon running the schedules and sensors). With `--once` it syncs today
for every demo organization, prints a table and exits.

The demo stays in its lane: it talks only to processes it started. A fixed port held by
anything else is refused with a clear message (`--free-ports` picks free ones instead; `--once`
always does), and everything it started — simulators, Dagster's processes and the embedded
PostgreSQL — is stopped on Ctrl-C and at the end of `--once`.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
import yaml

from recompra_pipelines.connectors.registry import CARDAPIO_WEB, ONLINE_SOFTWARE
from recompra_pipelines.dagster_ui import DAGSTER_URL_ENV
from recompra_pipelines.db.engine import (
    DATABASE_URL_ENV,
    create_crm_engine,
    crm_database_url,
    ensure_database,
    recompra_home,
)
from recompra_pipelines.db.migrate import upgrade
from recompra_pipelines.resources.alerting import WEBHOOK_URL_ENV

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_ORG_FILES = sorted((PROJECT_ROOT / "examples" / "demo").glob("*.*"))
# The demo stores' simulated clock starts late in their business day (08:00-22:00), so the demo
# has sales at any real hour, and new sales and cancellations keep arriving for a while.
DEMO_CLOCK_START = "18:00"
# In the demo, statuses take long enough to watch a message go delivered, then read, and one
# recipient in five answers PARAR, so later campaign messages to them are skipped (OPT_OUT).
DEMO_STATUS_TIMELINE = {"sent": 0.5, "delivered": 3.0, "read": 20.0, "reply": 5.0}
DEMO_OPT_OUT_EVERY = 5
# How long Dagster's processes get to stop after Ctrl-C before they are killed.
STOP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class DemoPorts:
    """Where the demo's services listen on 127.0.0.1 (0: a free port chosen at start)."""

    ui: int = 3000
    erp: int = 8765
    whatsapp: int = 8766
    cardapio_web: int = 8767
    webhooks: int = 8768
    # The alert inbox has no fixed port: the demo prints where it is.
    alerts: int = 0

    @classmethod
    def free(cls) -> DemoPorts:
        return cls(ui=_free_port(), erp=0, whatsapp=0, cardapio_web=0, webhooks=0)

    def services(self) -> dict[str, int]:
        return {
            "Dagster UI": self.ui,
            "Online Software simulator": self.erp,
            "WhatsApp simulator": self.whatsapp,
            "CardápioWeb simulator": self.cardapio_web,
            "WhatsApp webhook receiver": self.webhooks,
        }


class DemoRefused(click.ClickException):
    """The demo would have to share a port with a process it did not start."""


def run_demo(*, once: bool, ports: DemoPorts | None = None) -> int:
    """`make demo` (and `make demo ONCE=1` with `once`). Returns the exit code."""
    ports = DemoPorts.free() if once else (ports or DemoPorts())
    refuse_taken_ports(ports)
    _stop_on_signals()
    with ExitStack() as stack:
        demo = Demo(stack, ports, once=once)
        demo.start_database()
        demo.start_online_software_simulator()
        demo.start_cardapio_web_simulator()
        demo.start_webhook_receiver()
        demo.start_whatsapp_simulator()
        demo.start_alert_inbox()
        org_ids = demo.apply_demo_orgs()
        if once:
            report = demo.sync_today(org_ids)
        else:
            return demo.run_dagster()
    # Printed after everything the demo started has stopped: the table is the last output.
    click.echo(report.text)
    return report.exit_code


def refuse_taken_ports(ports: DemoPorts) -> None:
    """Refuse, before starting anything, to run beside whatever already holds a fixed port."""
    for service, port in ports.services().items():
        if port and not _port_is_free(port):
            raise DemoRefused(
                f"port {port} ({service}) is already in use by a process this demo did not "
                "start — probably another `make demo` (stop it first), or another program. "
                "Nothing was started. Run `recompra demo --free-ports` to use free ports instead."
            )


class Demo:
    """The services of one demo run; each `start_*` registers its own stop on the stack."""

    def __init__(self, stack: ExitStack, ports: DemoPorts, *, once: bool) -> None:
        self.stack = stack
        self.ports = ports
        self.once = once
        self.database_url = ""
        self.urls: dict[str, str] = {}
        self.whatsapp = None
        self.webhook_url = ""

    def start_database(self) -> None:
        """The CRM database, migrated. An embedded PostgreSQL the demo starts is stopped at its
        end (one started earlier, e.g. by a CLI command, is left as it was)."""
        self.database_url = self.stack.enter_context(crm_database_url(stop_embedded=True))
        os.environ[DATABASE_URL_ENV] = self.database_url
        upgrade(self.database_url)

    def start_online_software_simulator(self) -> None:
        if self.once:
            from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator

            simulator = OnlineSoftwareSimulator()
            simulator.start_clock_today_at(DEMO_CLOCK_START)
            url = self.stack.enter_context(simulator.run_in_thread(port=self.ports.erp))
        else:
            # Its own process: generating a busy day's sales does not hold this one up.
            port = self.ports.erp or _free_port()
            self._subprocess(
                [
                    sys.executable,
                    "-m",
                    "recompra_pipelines.cli",
                    "simulate",
                    "erp",
                    "--port",
                    str(port),
                    "--clock-start",
                    DEMO_CLOCK_START,
                ]  # fmt: skip
            )
            url = f"http://127.0.0.1:{port}"
        self.urls[ONLINE_SOFTWARE] = url
        click.echo(f"Online Software simulator on {url}")

    def start_cardapio_web_simulator(self) -> None:
        from recompra_pipelines.simulators.erp_cardapio_web import CardapioWebSimulator

        simulator = CardapioWebSimulator()
        simulator.start_clock_today_at(DEMO_CLOCK_START)
        url = self.stack.enter_context(simulator.run_in_thread(port=self.ports.cardapio_web))
        self.urls[CARDAPIO_WEB] = url
        click.echo(f"CardápioWeb simulator on {url}")

    def start_webhook_receiver(self) -> None:
        """The WhatsApp webhook receiver, in this process, with demo secrets unless
        WHATSAPP_APP_SECRET / WHATSAPP_WEBHOOK_VERIFY_TOKEN are set."""
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
        app = create_app(ReceiverSettings.from_env())
        base = self.stack.enter_context(
            serve_in_thread(app, name="webhook receiver", port=self.ports.webhooks)
        )
        self.webhook_url = f"{base}{WEBHOOK_PATH}"
        click.echo(f"WhatsApp webhook receiver on {self.webhook_url}")

    def start_whatsapp_simulator(self) -> None:
        """The Cloud API simulator, knowing the demo numbers and templates, posting signed
        status webhooks (and some customers' PARAR) to the receiver; Dagster's processes
        inherit WHATSAPP_GRAPH_URL pointing at it."""
        from recompra_pipelines.messaging.cloud_api import GRAPH_URL_ENV
        from recompra_pipelines.messaging.webhook_receiver import APP_SECRET_ENV
        from recompra_pipelines.simulators.whatsapp import StatusTimeline, simulator_for_org_files
        from recompra_pipelines.simulators.whatsapp_webhooks import WebhookSender

        self.whatsapp = simulator_for_org_files(DEMO_ORG_FILES)
        sender = WebhookSender(self.webhook_url, os.environ[APP_SECRET_ENV])
        self.stack.callback(sender.close)
        self.whatsapp.configure_webhooks(
            sender,
            timeline=StatusTimeline(**DEMO_STATUS_TIMELINE),
            opt_out_every=DEMO_OPT_OUT_EVERY,
        )
        url = self.stack.enter_context(self.whatsapp.run_in_thread(port=self.ports.whatsapp))
        os.environ[GRAPH_URL_ENV] = url
        click.echo(f"WhatsApp simulator on {url} (messages it received: GET {url}/_sim/messages)")

    def start_alert_inbox(self) -> None:
        """Where the demo's alerts go, unless RECOMPRA_ALERT_WEBHOOK_URL points elsewhere."""
        from recompra_pipelines.simulators.alert_inbox import AlertInbox

        if os.environ.get(WEBHOOK_URL_ENV):
            click.echo(f"alerts go to {WEBHOOK_URL_ENV} (set outside the demo)")
            return
        webhook = self.stack.enter_context(AlertInbox().webhook_in_thread(port=self.ports.alerts))
        os.environ[WEBHOOK_URL_ENV] = webhook
        inbox = webhook.removesuffix("/webhook")
        click.echo(f"alert inbox on {inbox} (alerts it received: GET {inbox}/alerts)")

    def apply_demo_orgs(self) -> list[str]:
        """Each demo org file, its ERP pointed at this demo's simulator."""
        from recompra_pipelines.orgfile.organization import OrgFile
        from recompra_pipelines.orgfile_store.writer import apply_org_file

        engine = create_crm_engine(self.database_url)
        org_ids = []
        try:
            for path in DEMO_ORG_FILES:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
                integration = data.get("integration") or {}
                kind = str(integration.get("type", "")).upper().replace("_", "-")
                if kind in self.urls:
                    integration["server_url"] = self.urls[kind]
                org_file = OrgFile.model_validate(data)
                with engine.begin() as conn:
                    apply_org_file(conn, org_file)
                org_ids.append(org_file.id)
        finally:
            engine.dispose()
        click.echo(f"demo organizations: {', '.join(org_ids)}")
        return org_ids

    def sync_today(self, org_ids: list[str]) -> OnceReport:
        from recompra_pipelines.automation.materialize import dagster_instance, sync_partition

        instance = dagster_instance()
        engine = create_crm_engine(self.database_url)
        with engine.connect() as conn:
            zones = dict(
                conn.execute(
                    sa.text("SELECT id, fuso_horario FROM organizations WHERE id = ANY(:ids)"),
                    {"ids": org_ids},
                ).all()
            )
        engine.dispose()
        summaries = []
        for org_id in org_ids:
            day = datetime.now(ZoneInfo(zones[org_id])).date()
            summary = sync_partition(instance, self.database_url, org_id, day)
            summaries.append(replace(summary, messages=self._messages_sent(org_id)))
        return OnceReport(summaries)

    def run_dagster(self) -> int:
        """Dagster's own storage goes in a `dagster` database on the same server (dagster.yaml)."""
        home = recompra_home() / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
        dagster_db = sa.make_url(ensure_database(self.database_url, "dagster")).set(
            drivername="postgresql+psycopg2"
        )
        ui = f"http://127.0.0.1:{self.ports.ui}"
        os.environ.setdefault(DAGSTER_URL_ENV, ui)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": dagster_db.render_as_string(hide_password=False),
        }
        click.echo(f"Dagster UI on {ui} (Ctrl-C stops everything)")
        process = self._subprocess(
            [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
             "-h", "127.0.0.1", "-p", str(self.ports.ui), "--log-level", "info"],
            env=env,
            # Not the repo root: Dagster would warn about the dagster.yaml template there.
            cwd=home,
        )  # fmt: skip
        try:
            return process.wait()
        except KeyboardInterrupt:
            return 0

    def _messages_sent(self, org_id: str) -> int:
        """Messages the WhatsApp simulator accepted from the organization's number."""
        from recompra_pipelines.orgfile.organization import load_org_file

        numbers = {
            org.whatsapp.connection.phone_number_id
            for org in (load_org_file(path) for path in DEMO_ORG_FILES)
            if org.id == org_id and org.whatsapp and org.whatsapp.connection
        }
        return sum(1 for m in self.whatsapp.messages if m["phone_number_id"] in numbers)

    def _subprocess(
        self, command: list[str], env: dict | None = None, cwd: Path = PROJECT_ROOT
    ) -> subprocess.Popen:
        """A child in its own process group, stopped with all its children when the demo ends."""
        process = subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True)
        self.stack.callback(_stop_process_group, process)
        return process


@dataclass(frozen=True)
class OnceReport:
    summaries: list

    @property
    def exit_code(self) -> int:
        return 1 if any(not s.success or s.failed_error_checks for s in self.summaries) else 0

    @property
    def text(self) -> str:
        from recompra_pipelines.automation.materialize import SyncSummary, format_table

        lines = []
        for summary in self.summaries:
            if not summary.success:
                lines.append(f"sync of {summary.org_id} failed: {summary.error}")
            for check in summary.failed_checks:
                lines.append(f"check failed for {summary.org_id}: {check}")
        lines.append(format_table([s.row() for s in self.summaries], SyncSummary.COLUMNS))
        return "\n".join(lines)


def _stop_process_group(process: subprocess.Popen) -> None:
    """SIGINT (Dagster shuts its webserver, daemon and run workers down), then SIGTERM, then
    SIGKILL: nothing the demo started outlives it."""
    for sig, timeout in (
        (signal.SIGINT, STOP_TIMEOUT_SECONDS),
        (signal.SIGTERM, 10),
        (signal.SIGKILL, 10),
    ):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure none of its children stayed behind.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break


def _stop_on_signals() -> None:
    """Ctrl-C and `kill <demo>` both stop it through the exit stack (which stops what it
    started). SIGINT is set explicitly: a process started in the background inherits it
    ignored, and so would its children — installing a handler also gives them the default."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # A port a finished process left in TIME_WAIT is free; one something listens on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
