"""A schedule tick, evaluated by the scheduler daemon, says in its log why each organization
launched or skipped — the log an operator opens from the tick in the UI."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.automation.erp_sync import CONTENT_HASH_TAG
from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
from recompra_pipelines.sync import steps
from recompra_pipelines_tests.dagster_daemon import evaluate_schedule_tick, tick_log_lines
from recompra_pipelines_tests.helpers import new_org

SP = ZoneInfo("America/Sao_Paulo")


def _next_tick_off_the_lookback(now: datetime) -> datetime:
    """The next 5-minute tick that syncs today only (not at :00 or :30, the lookback's)."""
    tick = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
    while tick.minute % 30 == 0:
        tick += timedelta(minutes=5)
    return tick


def _add_run(instance, key, status, **tags) -> str:
    run_id = str(uuid.uuid4())
    instance.add_run(
        dg.DagsterRun(
            job_name="erp_sync",
            run_id=run_id,
            status=status,
            tags={"dagster/partition": str(key), **tags},
        )
    )
    return run_id


def test_each_organization_gets_one_decision_line_and_the_skip_message_counts(
    daemon, engine, erp_simulator
):
    instance, workspace = daemon
    _, url = erp_simulator
    tick_at = _next_tick_off_the_lookback(datetime.now(UTC))
    changed, _ = new_org(engine, url)
    unchanged, _ = new_org(engine, url)
    busy, _ = new_org(engine, url)
    unreachable, _ = new_org(engine, "http://127.0.0.1:9")
    inactive, _ = new_org(engine, url)
    unregistered, _ = new_org(engine, url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE organizations SET integracao_ativa = false WHERE id = :o"),
            {"o": inactive},
        )
    instance.add_dynamic_partitions(
        ORGANIZATIONS, [changed, unchanged, busy, unreachable, inactive]
    )
    day = tick_at.astimezone(SP).date()
    content = steps.fetch_day(engine, unchanged, day, steps.QUICK_CHECK_FETCH).content_hash
    same_run = _add_run(
        instance, org_day_key(unchanged, day), dg.DagsterRunStatus.SUCCESS,
        **{CONTENT_HASH_TAG: content},
    )  # fmt: skip
    busy_run = _add_run(instance, org_day_key(busy, day), dg.DagsterRunStatus.STARTED)

    tick = evaluate_schedule_tick(workspace, "erp_sync_schedule", tick_at + timedelta(seconds=5))

    lines = tick_log_lines(instance, tick)
    expected = {
        changed: f"{changed} {day}: launched — no run of this day yet",
        unchanged: f"{unchanged} {day}: skipped: unchanged — since run {same_run}",
        busy: f"{busy} {day}: skipped: run in progress — run {busy_run}",
        inactive: f"{inactive}: skipped: inactive — its integration is deactivated",
        unregistered: f"{unregistered}: skipped: not registered yet",
    }
    for org_id, line in expected.items():
        mine = [entry for entry in lines if entry.split(":")[0].split(" ")[0] == org_id]
        assert len(mine) == 1, (org_id, mine)
        assert mine[0].startswith(line), mine[0]
    [failed_check] = [entry for entry in lines if entry.startswith(f"{unreachable} ")]
    assert failed_check.startswith(f"{unreachable} {day}: change check failed: launched anyway — ")
    # The tick's runs are the partitions its log says it launched.
    launched = {instance.get_run_by_id(run_id).tags["dagster/partition"] for run_id in tick.run_ids}
    assert {str(org_day_key(changed, day)), str(org_day_key(unreachable, day))} <= launched
    assert str(org_day_key(unchanged, day)) not in launched

    # The next tick launches nothing, and its skip message carries the counts.
    later = _next_tick_off_the_lookback(tick_at + timedelta(minutes=1))
    skipped = evaluate_schedule_tick(workspace, "erp_sync_schedule", later + timedelta(seconds=5))
    reason = skipped.tick_data.skip_reason
    assert reason.startswith("nothing launched this tick: ")
    assert "3 skipped: run in progress" in reason and "1 skipped: unchanged" in reason
    assert "skipped: inactive" in reason and "skipped: not registered yet" in reason
