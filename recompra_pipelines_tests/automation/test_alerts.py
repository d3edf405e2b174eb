"""Alerts reach a person: a failed ERROR check, a failed run and a freshness breach each send
one message to the loopback inbox; the same failure on the next ticks sends nothing more; the
recovery sends one "recovered"."""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from recompra_pipelines.automation.alerts import operator_alerts_sensor
from recompra_pipelines.automation.erp_sync import SYNC_GRAPH
from recompra_pipelines.automation.freshness import erp_freshness_sensor
from recompra_pipelines.definitions import defs
from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
from recompra_pipelines.resources.alerting import WEBHOOK_URL_ENV, Alerting, deliver
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.simulators.alert_inbox import AlertInbox
from recompra_pipelines_tests.helpers import materialize_day, new_org

DAY = date(2026, 11, 12)
UI = "http://dagster.example:3000"


@pytest.fixture
def inbox(monkeypatch):
    inbox = AlertInbox()
    with inbox.webhook_in_thread() as url:
        monkeypatch.setenv(WEBHOOK_URL_ENV, url)
        yield inbox


class AlertsSensor:
    """Ticks of the alerts sensor, carrying its cursor from one tick to the next."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self.cursor: str | None = None

    def tick(self):
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            repository_def=defs.get_repository_def(),
            resources={"alerts": Alerting(ui_url=UI)},
        ) as context:
            result = operator_alerts_sensor(context)
            self.cursor = context.cursor
        return result


def _buyer(engine, org_id):
    with engine.connect() as conn:
        return conn.scalar(
            sa.text(
                "SELECT cliente_id FROM sales WHERE organizacao_id = :o AND cliente_id IS NOT NULL"
                " ORDER BY id_externo LIMIT 1"
            ),
            {"o": org_id},
        )


def _shift_purchase_count(engine, client_id, by: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE clients SET metadata_total_compras = metadata_total_compras + :n"
                " WHERE id = :c"
            ),
            {"n": by, "c": client_id},
        )


# The sync up to the sales and their checks, and the fetch alone: enough to fail a check and
# a run (the rest of the graph would only make the test slower).
UP_TO_SALES = SYNC_GRAPH & dg.AssetSelection.assets("crm_sales").upstream()
FETCH = dg.AssetSelection.assets("erp_raw_extract")


def test_one_alert_per_incident_and_one_recovered(
    inbox, instance, engine, database_url, erp_simulator
):
    _, url = erp_simulator
    sensor = AlertsSensor(instance)
    sensor.tick()  # starts from now
    checked, _ = new_org(engine, url)
    broken, _ = new_org(engine, "http://127.0.0.1:9")

    def sync(org_id, selection, **kwargs):
        return materialize_day(instance, database_url, org_id, DAY, selection=selection, **kwargs)

    assert sync(checked, UP_TO_SALES).success
    buyer = _buyer(engine, checked)
    _shift_purchase_count(engine, buyer, +1)  # drift no constraint catches

    def fail_both():
        assert sync(checked, UP_TO_SALES).success  # the run succeeds; an ERROR check fails
        assert not sync(broken, FETCH, raise_on_error=False).success

    fail_both()
    sensor.tick()
    texts = inbox.texts()
    assert len(texts) == 2
    [check_alert] = [t for t in texts if "crm_buyers_totals_match_sales" in t]
    assert check_alert.startswith(
        f"FAILING: check crm_buyers_totals_match_sales on crm_sales — organization {checked},"
        f" day {DAY}"
    )
    assert "buyers_with_wrong_totals = 1" in check_alert
    assert f"Open in Dagster: {UI}/runs/" in check_alert
    [run_alert] = [t for t in texts if broken in t]
    assert f"organization {broken}, day {DAY}" in run_alert
    assert "failed step erp_raw_extract:" in run_alert and f"{UI}/runs/" in run_alert

    fail_both()  # the same failures again, as the next scheduled runs would see them
    sensor.tick()
    sensor.tick()
    assert len(inbox.texts()) == 2

    _shift_purchase_count(engine, buyer, -1)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE organizations SET integracao_configuracao ="
                " jsonb_set(integracao_configuracao, '{server_url}', to_jsonb(CAST(:u AS text)))"
                " WHERE id = :o"
            ),
            {"u": url, "o": broken},
        )
    assert sync(checked, UP_TO_SALES).success
    assert sync(broken, FETCH).success
    sensor.tick()
    recovered = inbox.texts()[2:]
    assert len(recovered) == 2 and all(t.startswith("RECOVERED: ") for t in recovered)
    assert any("crm_buyers_totals_match_sales" in t for t in recovered)
    assert any(broken in t for t in recovered)
    sensor.tick()
    assert len(inbox.texts()) == 4


def test_a_silent_stop_alerts_once_per_organization_and_recovers(
    inbox, instance, engine, database_url, erp_simulator
):
    _, url = erp_simulator
    # An organization whose local time is not within the first minute of its day, so its
    # today has been waiting longer than the one-minute limit below.
    zone = (
        "America/Sao_Paulo"
        if datetime.now(ZoneInfo("America/Sao_Paulo")).hour
        else "America/Manaus"
    )
    org_id, _ = new_org(engine, url, timezone=zone)
    instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
    sensor = FreshnessSensor(instance, database_url)

    for _ in range(2):  # never synced today while its ERP has the day: stale, paged once
        lines = sensor.tick()
    [alert] = inbox.texts()
    today = datetime.now(ZoneInfo(zone)).date()
    assert alert.startswith(
        f"FAILING: freshness of today's sales — organization {org_id}, day {today}"
    )
    assert "no successful sync of the day yet" in alert and "minutes_since_sync = " in alert
    assert f"{UI}/runs?" in alert
    assert any(line.startswith(f"{org_id} {today}: stale — ") for line in lines), lines

    synced = defs.resolve_job_def("erp_sync").execute_in_process(
        instance=instance, partition_key=org_day_key(org_id, today)
    )
    assert synced.success
    lines = sensor.tick()
    assert any(line.startswith(f"{org_id} {today}: fresh — ") for line in lines)
    assert len(inbox.texts()) == 2
    assert inbox.texts()[1].startswith(
        f"RECOVERED: freshness of today's sales — organization {org_id}"
    )


class FreshnessSensor:
    def __init__(self, instance: dg.DagsterInstance, database_url: str) -> None:
        self.instance = instance
        self.database_url = database_url
        self.cursor: str | None = None

    def tick(self) -> list[str]:
        """Evaluates a tick; returns its log lines."""
        records: list[logging.LogRecord] = []
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={
                "crm_db": CrmDatabase(url=self.database_url),
                "alerts": Alerting(ui_url=UI, freshness_minutes=1),
            },
        ) as context:
            context.log.addHandler(_Collect(records))
            erp_freshness_sensor(context)
            self.cursor = context.cursor
        return [record.getMessage().split(" - ")[-1] for record in records]


class _Collect(logging.Handler):
    def __init__(self, records: list) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_alerts_also_go_by_email_and_secrets_stay_out_of_the_config(monkeypatch):
    inbox = AlertInbox()
    with inbox.smtp_in_thread() as port:
        monkeypatch.setenv("RECOMPRA_ALERT_SMTP_PASSWORD", "s3cret")
        alerts = Alerting(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            email_from="recompra@example.com",
            email_to="ops@example.com, lead@example.com",
        )
        settings = alerts.settings()
        deliver(settings, "FAILING: runs of erp_sync — organization x, day y", "body\nline 2")
    [mail] = inbox.mail
    assert mail["to"] == ["ops@example.com", "lead@example.com"]
    assert mail["subject"] == "FAILING: runs of erp_sync — organization x, day y"
    assert "line 2" in mail["body"]
    assert "s3cret" not in repr(settings) and "s3cret" not in str(alerts)
