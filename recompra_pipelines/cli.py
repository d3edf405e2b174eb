"""The `recompra` command: db, org, sync, backfill, serve, simulate, demo.

Whatever fails, the last line printed is `Error: ` and the root cause in one line (a database
that does not answer, a step's own error), never a traceback with statement parameters in it.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click

from recompra_pipelines.dagster_ui import DAGSTER_URL_ENV, DEFAULT_DAGSTER_URL, dagster_home
from recompra_pipelines.db.engine import (
    EmbeddedDatabaseUnavailable,
    create_crm_engine,
    resolve_database_url,
)
from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE
from recompra_pipelines.errors import root_cause, validation_problems
from recompra_pipelines.process_exit import skip_final_collections


def _database_url() -> str:
    try:
        return resolve_database_url()
    except EmbeddedDatabaseUnavailable as error:
        raise click.ClickException(str(error)) from None


class _Commands(click.Group):
    """Every error of every command ends in one line naming its root cause."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            raise click.ClickException(root_cause(error)) from None


@click.group(cls=_Commands)
def main() -> None:
    """Recompra Pipelines: keep the CRM in step with the ERPs."""
    skip_final_collections()


@main.group()
def db() -> None:
    """The CRM database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (RECOMPRA_DATABASE_URL, else the embedded server)."""
    from recompra_pipelines.db.migrate import upgrade

    upgrade(_database_url())
    click.echo("database is at the latest migration")


@main.group()
def org() -> None:
    """Organizations."""


@org.command("apply")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def org_apply(file: Path) -> None:
    """Create or update an organization from a YAML or JSON FILE; prints its id."""
    from recompra_pipelines.orgfile.organization import OrgFileError, load_org_file

    try:
        org_file = load_org_file(file)
    except OrgFileError as error:
        raise click.ClickException(str(error)) from None
    for field, name in org_file.secret_references().items():
        if not os.environ.get(name, "").strip():
            click.echo(
                f"warning: {field}: environment variable {name} is not set here; the runs of "
                f"{org_file.id} read it from their own environment",
                err=True,
            )
    _apply(org_file)
    click.echo(org_file.id)


@org.command("add")
@click.option("--name", required=True, help="Display name of the organization.")
@click.option(
    "--integration", required=True, help="Integration type, e.g. online-software, cardapio-web."
)
@click.option("--token", default=None, help="The ERP token (the integration's `token` field).")
@click.option("--server-url", default=None, help="The ERP server base URL (`server_url`).")
@click.option(
    "--set",
    "fields",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Any field of the integration's config (repeatable), e.g. --set merchant_id=123"
    " --set api_key_env=CW_KEY; an unknown FIELD is refused with the type's fields.",
)
@click.option(
    "--id", "org_id", default=None, help="Organization id (a slug); generated if omitted."
)
@click.option("--timezone", default=DEFAULT_TIMEZONE, show_default=True)
@click.option(
    "--effects-start",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day with cashback, campaigns and messages (default: today).",
)
def org_add(name, integration, token, server_url, fields, org_id, timezone, effects_start) -> None:
    """Create an organization with an ERP integration of any registered type; prints the new
    id. The integration's fields are its connector's config model's."""
    from pydantic import ValidationError

    from recompra_pipelines.orgfile.organization import OrgFile, integration_fields

    try:
        config = integration_fields(
            integration, {"token": token, "server_url": server_url}, _field_values(fields)
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    org_id = org_id or _new_org_id(name)
    try:
        org_file = OrgFile.model_validate(
            {
                "id": org_id,
                "name": name,
                "timezone": timezone,
                "effects_start": effects_start.date() if effects_start else None,
                "integration": {"type": integration, **config},
            }
        )
    except ValidationError as error:
        problems = "; ".join(validation_problems(error))
        raise click.ClickException(f"invalid organization: {problems}") from None
    if not _apply(org_file, create_only=True):  # False: the id is taken
        raise click.ClickException(
            f"organization {org_id!r} already exists; use `recompra org apply` to change it"
        )
    click.echo(org_id)


def _field_values(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        field, separator, value = pair.partition("=")
        if not separator or not field.strip():
            raise click.BadParameter(f"{pair!r} is not FIELD=VALUE", param_hint="--set")
        values[field.strip()] = value
    return values


def _apply(org_file, create_only: bool = False) -> bool:
    """Write the organization in one transaction; a failure is one line without the file's
    secrets (a database error never shows the statement's parameters)."""
    from recompra_pipelines.credentials import Redactor
    from recompra_pipelines.db.tables.sync import organizations
    from recompra_pipelines.orgfile_store.writer import apply_org_file

    redactor = Redactor(org_file.secret_values())
    try:
        engine = create_crm_engine(_database_url())
        try:
            with engine.begin() as conn:
                if (
                    create_only
                    and conn.execute(
                        organizations.select().where(organizations.c.id == org_file.id)
                    ).first()
                ):
                    return False
                return apply_org_file(conn, org_file)
        finally:
            engine.dispose()
    except Exception as error:
        raise click.ClickException(
            redactor.text(f"organization {org_file.id} not applied: {root_cause(error)}")
        ) from None


def _new_org_id(name: str) -> str:
    from recompra_pipelines.domain.names import name_match_key

    slug = "".join(c if c.isalnum() else "-" for c in name_match_key(name)).strip("-")
    slug = "-".join(part for part in slug.split("-") if part)[:40] or "org"
    return f"{slug}-{secrets.token_hex(3)}"


@main.command("sync")
@click.option("--org", "org_id", required=True, help="Organization id.")
@click.option(
    "--date", "day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Business day."
)
@click.option(
    "--force",
    is_flag=True,
    help="Run even when the ERP's answer is unchanged since the last successful run.",
)
def sync(org_id: str, day, force: bool) -> None:
    """Materialize one org x day partition of the sync graph in this process.

    The day is first checked as the schedule checks it: when the ERP answers exactly the
    content the last complete sync of the day processed, no run starts and the line printed
    says so and why. That sync is known from the CRM (what `recompra sync` recorded: no Dagster
    is loaded to skip) and, with a Dagster instance (DAGSTER_HOME), from the partition's last
    successful run, the daemon's included.
    """
    from recompra_pipelines.sync.change_check import check_day_content

    database_url, content_hash = _database_url(), None
    if not force:
        check = check_day_content(
            database_url, org_id, day.date(), other_history=bool(dagster_home())
        )
        if dagster_home():
            from recompra_pipelines.automation.materialize import (
                check_against_last_run,
                dagster_instance,
            )

            check = check_against_last_run(dagster_instance(), org_id, day.date(), check)
        if check.skip_reason is not None:
            click.echo(
                f"{org_id} {day.date()}: skipped, no run started: {check.skip_reason}. "
                "`--force` syncs it anyway."
            )
            return
        content_hash = check.content_hash
    from recompra_pipelines.automation.materialize import (
        SyncSummary,
        dagster_instance,
        format_table,
        sync_partition,
    )

    summary = sync_partition(dagster_instance(), database_url, org_id, day.date(), content_hash)
    if not summary.success:
        raise click.ClickException(f"sync of {org_id} {day.date()} failed: {summary.error}")
    click.echo(format_table([summary.row()], SyncSummary.COLUMNS))
    for check in summary.failed_checks:
        click.echo(f"warning: {check}", err=True)


@main.command("backfill")
@click.option(
    "--org", "org_ids", required=True, multiple=True, help="Organization id (repeatable)."
)
@click.option(
    "--from", "first_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day."
)
@click.option(
    "--to", "last_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day."
)
@click.option(
    "--dagster-url",
    envvar=DAGSTER_URL_ENV,
    default=DEFAULT_DAGSTER_URL,
    show_default=True,
    help="The Dagster webserver (env RECOMPRA_DAGSTER_URL).",
)
def backfill(org_ids, first_day, last_day, dagster_url: str) -> None:
    """Backfill the erp_sync job over a range of days for the given organizations.

    Submitted to Dagster exactly as the UI's backfill dialog does: it shows in the UI, the
    daemon runs one run per organization x day, one run at a time per organization.
    """
    from recompra_pipelines.backfills import BackfillError, BackfillRequest, launch_sync_backfill

    try:
        request = BackfillRequest(
            org_ids=tuple(dict.fromkeys(org_ids)),
            first_day=first_day.date(),
            last_day=last_day.date(),
        )
        launched = launch_sync_backfill(dagster_url, request)
    except BackfillError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"backfill {launched.backfill_id}: {launched.partitions} partition(s) of erp_sync "
        f"({len(request.org_ids)} organization(s) x {len(request.days)} day(s)); "
        f"follow it at {launched.url}"
    )


@main.group()
def serve() -> None:
    """Long-running services."""


@serve.command("webhooks")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True, help="0.0.0.0 in a container.")
def serve_webhooks(port: int, host: str) -> None:
    """Receive WhatsApp's status and message webhooks on /webhooks/whatsapp.

    Needs WHATSAPP_APP_SECRET and WHATSAPP_WEBHOOK_VERIFY_TOKEN; stores into
    RECOMPRA_DATABASE_URL. Health: GET /healthz.
    """
    from recompra_pipelines.messaging.webhook_receiver import (
        ReceiverConfigError,
        ReceiverSettings,
        serve,
    )

    try:
        settings = ReceiverSettings.from_env()
    except ReceiverConfigError as error:
        raise click.ClickException(str(error)) from None
    serve(port=port, host=host, settings=settings)


@main.group()
def simulate() -> None:
    """Local simulators that speak the real wire formats."""


@simulate.command("erp")
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--clock-start",
    default=None,
    metavar="HH:MM",
    help="Start the simulated clock at this time of today (São Paulo) and let it run; "
    "default: the real time. Stores sell from 08:00 to 22:00.",
)
def simulate_erp(port: int, host: str, clock_start: str | None) -> None:
    """Serve the Online Software `listarVendas001` API with deterministic data."""
    from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator, serve

    simulator = OnlineSoftwareSimulator()
    if clock_start:
        simulator.start_clock_today_at(clock_start)
    serve(port=port, host=host, simulator=simulator)


@simulate.command("whatsapp")
@click.option("--port", default=8766, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--org-file",
    "org_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Register this org file's WhatsApp number and templates (repeatable); "
    "default: accept any number and token, validate no templates.",
)
def simulate_whatsapp(port: int, host: str, org_files: tuple[Path, ...]) -> None:
    """Serve the WhatsApp Cloud API `/messages` endpoint (point WHATSAPP_GRAPH_URL here)."""
    from recompra_pipelines.simulators.whatsapp import serve, simulator_for_org_files

    serve(port=port, host=host, simulator=simulator_for_org_files(org_files) if org_files else None)


@simulate.command("whatsapp-gateway")
@click.option("--port", default=8769, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--secret-env",
    default="INTERNAL_WHATSAPP_GATEWAY_API_SECRET",
    show_default=True,
    help="Environment variable holding the Bearer secret callers must send.",
)
def simulate_whatsapp_gateway(port: int, host: str, secret_env: str) -> None:
    """Serve the internal WhatsApp gateway's `POST /messages/send` (any session)."""
    from recompra_pipelines.simulators.whatsapp_gateway import serve

    secret = os.environ.get(secret_env, "").strip()
    if not secret:
        raise click.ClickException(f"set {secret_env} to the secret callers must present")
    serve(port=port, host=host, secret=secret)


@main.command("demo")
@click.option(
    "--once", is_flag=True, help="Sync today for every demo organization, print a table, exit."
)
@click.option(
    "--free-ports",
    is_flag=True,
    help="Listen on free ports instead of 3000 and 8765-8768 (printed at start).",
)
@click.option("--ui-port", type=int, help="Dagster UI port [default: 3000].")
@click.option("--erp-port", type=int, help="Online Software simulator port [default: 8765].")
@click.option("--whatsapp-port", type=int, help="WhatsApp simulator port [default: 8766].")
@click.option("--cardapio-web-port", type=int, help="CardápioWeb simulator port [default: 8767].")
@click.option("--webhooks-port", type=int, help="WhatsApp webhook receiver port [default: 8768].")
def demo(
    once: bool,
    free_ports: bool,
    ui_port: int | None,
    erp_port: int | None,
    whatsapp_port: int | None,
    cardapio_web_port: int | None,
    webhooks_port: int | None,
) -> None:
    """Everything at once: database, migrations, demo organizations, simulators, Dagster.

    Refuses to start beside a process it did not start on one of its ports; Ctrl-C (and the
    end of --once) stops everything it started, the embedded PostgreSQL included.
    """
    from recompra_pipelines.demo import DemoPorts, run_demo

    chosen = {
        "ui": ui_port,
        "erp": erp_port,
        "whatsapp": whatsapp_port,
        "cardapio_web": cardapio_web_port,
        "webhooks": webhooks_port,
    }
    ports = (
        DemoPorts.free()
        if free_ports
        else DemoPorts(**{name: port for name, port in chosen.items() if port is not None})
    )
    try:
        status = run_demo(once=once, ports=ports)
    except EmbeddedDatabaseUnavailable as error:
        raise click.ClickException(str(error)) from None
    sys.exit(status)


if __name__ == "__main__":
    main()
