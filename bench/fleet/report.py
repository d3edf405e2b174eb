"""The fleet bench's Markdown: the ladder, then each N's ticks, resources and storage."""

from __future__ import annotations

import os
import platform
import subprocess
from collections import Counter
from datetime import datetime

from bench.fleet import storage
from bench.fleet.harness import FleetResult
from bench.fleet.orgs import fleet
from bench.fleet.processes import Part
from bench.fleet.ticks import percentile
from bench.report import markdown_table
from recompra_pipelines import settings

MB = 2**20
DAY_SECONDS = 86_400
# Runs kept for good per organization and day by the retention: the latest materialization of
# its erp_sync, cashback_daily and lifecycle_daily partitions.
KEPT_RUNS_PER_ORG_DAY = 3
PRODUCT_PARTS = (Part.DAEMON, Part.CODE_SERVER, Part.RUN_WORKERS, Part.POSTGRES)


def render(results: list[FleetResult], *, stopped_early: bool, note: str) -> str:
    lines = [
        "# Fleet under the real daemon (`make bench-fleet`)",
        "",
        f"Run {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {platform.node()} "
        f"({os.cpu_count()} cores), commit {_commit()}. {note}",
        "",
        _method(),
        "",
        "## Ladder",
        "",
        markdown_table(
            (
                "N",
                "sustained (every tick's lag < 5 min, none busy)",
                "max tick lag",
                "sync runs per tick (mean)",
                "CPU per run (product)",
                "CPU of the machine",
                "storage per day, no retention",
            ),
            [_ladder_row(r) for r in results],
        ),
        "",
        _verdict(results, stopped_early),
    ]
    for result in results:
        lines += ["", *_section(result)]
    return "\n".join(lines) + "\n"


def _method() -> str:
    return (
        "Each N: a fresh CRM database and Dagster storage database on the same PostgreSQL, the "
        "simulators (Online Software, CardápioWeb, WhatsApp) in a process of their own with the "
        "ERP clocks running, `dagster-daemon run` with the repository's `dagster.yaml` (queued "
        "run coordinator, one run per organization at a time). A warm-up first executes, "
        "in-process, what the schedules would launch for a fleet that has been running (today "
        "and yesterday synced and tagged with their ERP content, the day's expiry and lifecycle "
        "runs done); then the daemon runs and its 5-minute ticks are measured. A tick's lag is "
        "the end of its last run minus its scheduled time. Busy = due, but the previous run of "
        "that partition was still queued or running at the tick; unchanged = due, the ERP's "
        "answer had not changed."
    )


def _ladder_row(result: FleetResult) -> tuple:
    lags = [t.lag for t in result.ticks]
    worst = "≥ 300 s (unfinished)" if None in lags or not lags else f"{max(lags):.0f} s"
    launched = [t.launched for t in result.ticks] or [0]
    ours = sum(u.cpu_seconds for u in result.usage.values())
    return (
        result.settings.n,
        "yes" if result.sustained else "NO",
        worst,
        f"{sum(launched) / len(launched):.1f}",
        f"{_product_cpu(result) / max(result.runs_in_window, 1):.1f} s",
        f"{_share(ours, result)} (others: {_share(_others(result), result)})",
        _megabytes(_per_day_bytes(result)),
    )


def _verdict(results: list[FleetResult], stopped_early: bool) -> str:
    sustained = [r.settings.n for r in results if r.sustained]
    text = f"**Largest N sustained: {max(sustained)}.**" if sustained else "**No N was sustained.**"
    if stopped_early:
        text += " The ladder stopped at the first N that was not sustained."
    return text


def _section(result: FleetResult) -> list[str]:
    s = result.settings
    kinds = Counter(org.kind for org in fleet(s.n))
    warm = result.warm_up
    rows = [_tick_row(t) for t in result.ticks]
    lines = [
        f"## N = {s.n} — {'sustained' if result.sustained else 'NOT sustained'}",
        "",
        f"Fleet: {', '.join(f'{count} {kind}' for kind, count in kinds.items())}. "
        f"{result.server}; max concurrent runs {result.max_concurrent_runs}; store clocks from "
        f"{s.clock_start} today. Warm-up: {warm.runs} runs ({warm.failed} failed) in "
        f"{warm.seconds:.0f} s. Window: {result.window_seconds:.0f} s.",
        "",
        markdown_table(
            (
                "tick (São Paulo)",
                "lookback",
                "due",
                "launched",
                "unchanged",
                "busy",
                "tick done after",
                "queue wait p50 / max",
                "start p50",
                "run p50 / p95",
                "failed",
                "lag",
            ),
            rows,
        ),
        "",
    ]
    if result.other_runs:
        other = ", ".join(f"{job} {count}" for job, count in sorted(result.other_runs.items()))
        lines += [f"Other runs launched in the window: {other}.", ""]
    if result.runs_cut_off:
        lines += [
            f"{result.runs_cut_off} runs were still queued or running when the window closed "
            "(5 minutes after the last tick); the bench stopped them with the daemon.",
            "",
        ]
    if result.failures:
        lines += ["Failed runs (first ones):", *[f"- {f}" for f in result.failures], ""]
    lines += [*_resources(result), "", *_storage(result)]
    return lines


def _tick_row(tick) -> tuple:
    waits = [r.queue_wait for r in tick.runs if r.queue_wait is not None]
    starts = [r.start_latency for r in tick.runs if r.start_latency is not None]
    durations = [r.duration for r in tick.runs if r.duration is not None]
    lag = "unfinished (≥ 300 s)" if tick.lag is None else f"{tick.lag:.0f} s"
    if not tick.evaluated:
        lag += " (the tick's evaluation failed)"
    return (
        f"{tick.scheduled:%H:%M}",
        "yes" if tick.lookback else "",
        tick.due,
        tick.launched,
        tick.unchanged,
        tick.busy,
        _seconds(tick.evaluated_after),
        f"{_seconds(percentile(waits, 0.5))} / {_seconds(max(waits, default=None))}",
        _seconds(percentile(starts, 0.5)),
        f"{_seconds(percentile(durations, 0.5))} / {_seconds(percentile(durations, 0.95))}",
        tick.failed,
        lag,
    )


def _resources(result: FleetResult) -> list[str]:
    runs = max(result.runs_in_window, 1)
    rows = []
    for part in Part:
        usage = result.usage.get(part)
        if usage is None:
            rows.append((part, "not measured (a shared server)", "", "", "", ""))
            continue
        rows.append(
            (
                part,
                f"{usage.cpu_seconds:.0f} s",
                _share(usage.cpu_seconds, result),
                f"{usage.cpu_seconds / runs:.2f} s",
                f"{usage.peak_memory_mb:.0f} / {usage.mean_memory_mb:.0f} MB",
                f"{usage.peak_processes} / {usage.processes_seen}",
            )
        )
    others = _others(result)
    rows.append(("everything else on the machine", f"{others:.0f} s", _share(others, result)))
    rows = [row + ("",) * (6 - len(row)) for row in rows]
    product = _product_cpu(result)
    sync_runs = [run for tick in result.ticks for run in tick.runs]
    starts = [r.start_latency for r in sync_runs if r.start_latency is not None]
    durations = [r.duration for r in sync_runs if r.duration is not None]
    return [
        f"Resources over the window ({result.window_seconds:.0f} s, {result.runs_in_window} runs "
        f"of any job launched in it; memory: RSS, PostgreSQL as PSS):",
        "",
        markdown_table(
            (
                "process",
                "CPU",
                "of the machine",
                "CPU per run",
                "memory peak / mean",
                "processes at once (peak) / seen",
            ),
            rows,
        ),
        "",
        f"**Cost of a run** (what the sizing in docs/operations.md starts from): "
        f"{product / runs:.1f} s of CPU in all (daemon, code servers, run worker and "
        f"PostgreSQL; simulators excluded); from leaving the queue to its end "
        f"{_seconds(percentile(starts, 0.5))} to start (process and code import) + "
        f"{_seconds(percentile(durations, 0.5))} running (p50 of the sync runs).",
        "",
        "New PostgreSQL connections per run, every process of the deployment counted (daemon, code servers, run workers): "
        + ", ".join(
            f"{label} {count / runs:.0f}" for label, count in result.connections_opened.items()
        )
        + ".",
    ]


def _storage(result: FleetResult) -> list[str]:
    runs = max(result.runs_in_window, 1)
    rows = [
        (table, f"{size.rows:,}", f"{size.rows / runs:.1f}", f"{size.bytes / runs / 1024:.1f}")
        for table, size in sorted(result.run_footprint.items(), key=lambda kv: -kv[1].bytes)
    ]
    run_bytes = _bytes_per_run(result)
    tick_bytes = _bytes_per_tick(result)
    ticks_per_day = _ticks_per_day(result)
    per_day = _per_day_bytes(result)
    n = result.settings.n
    kept_per_day = KEPT_RUNS_PER_ORG_DAY * n * run_bytes
    bounded = (
        settings.RETENTION_DAGSTER_RUN_DAYS.default * result.runs_per_day_modelled * run_bytes
        + (settings.RETENTION_DAGSTER_TICK_DAYS.default * ticks_per_day * tick_bytes)
    )
    retention = result.retention
    before = storage.total(result.storage_before_retention)
    after = storage.total(result.storage_after_retention)
    return [
        f"Dagster storage: what the {result.runs_in_window} runs of the window wrote (exact row "
        f"sizes, scaled by each table's on-disk bytes per row byte: indexes and TOAST included):",
        "",
        markdown_table(("table", "rows", "rows per run", "kB per run"), rows),
        "",
        f"- Per run: {run_bytes / 1024:.0f} kB. Per tick (schedules and sensors): "
        f"{tick_bytes / 1024:.1f} kB, {ticks_per_day:,.0f} ticks a day at this window's rate.",
        f"- Per day, modelled: {result.runs_per_day_modelled:,} runs "
        f"({result.runs_per_day_modelled / n:.0f} per organization: a sync run per 5-minute slot "
        f"in which the store's ERP answer changed, plus lookback, expiry, lifecycle and "
        f"dispatch).",
        f"- **Without retention: +{_megabytes(per_day)} a day, for ever** "
        f"({per_day * 30 / 2**30:.1f} GB a month).",
        f"- **With the retention job's defaults** ({settings.RETENTION_DAGSTER_RUN_DAYS.default} days of runs, "
        f"{settings.RETENTION_DAGSTER_TICK_DAYS.default} days of ticks): bounded at about {bounded / 2**30:.2f} GB, plus "
        f"the runs kept for partition status ({KEPT_RUNS_PER_ORG_DAY} per organization a day: "
        f"+{_megabytes(kept_per_day)} a day, {kept_per_day / max(per_day, 1):.1%} of the "
        f"growth without retention).",
        f"- Retention pass over this run's whole history (age limit: now): "
        f"{retention.runs_deleted:,} of {retention.runs_before:,} runs deleted "
        f"({retention.event_rows_deleted:,} event rows) and {retention.ticks_deleted:,} ticks "
        f"in {retention.seconds:.1f} s ({retention.runs_deleted / max(retention.seconds, 1e-9):.0f}"
        f" runs/s); {retention.runs_kept:,} runs kept as the latest materialization of their "
        f"partitions ({retention.partitions_materialized:,} job × partition pairs ran). Rows in "
        f"Dagster's storage: {before.rows:,} before, {after.rows:,} after; on disk "
        f"{before.bytes / MB:.0f} MB before and {after.bytes / MB:.0f} MB after (PostgreSQL "
        f"reuses the freed space; only VACUUM FULL returns it to the file system).",
    ]


def _bytes_per_run(result: FleetResult) -> float:
    return storage.total(result.run_footprint).bytes / max(result.runs_in_window, 1)


def _bytes_per_tick(result: FleetResult) -> float:
    return result.tick_footprint.bytes / max(result.tick_footprint.rows, 1)


def _ticks_per_day(result: FleetResult) -> float:
    return result.tick_footprint.rows / result.window_seconds * DAY_SECONDS


def _per_day_bytes(result: FleetResult) -> float:
    return result.runs_per_day_modelled * _bytes_per_run(result) + _ticks_per_day(
        result
    ) * _bytes_per_tick(result)


def _product_cpu(result: FleetResult) -> float:
    return sum(result.usage[p].cpu_seconds for p in PRODUCT_PARTS if p in result.usage)


def _others(result: FleetResult) -> float:
    ours = sum(u.cpu_seconds for u in result.usage.values())
    return max(result.machine_cpu_seconds - ours - result.harness_cpu_seconds, 0.0)


def _share(cpu_seconds: float, result: FleetResult) -> str:
    capacity = result.window_seconds * (os.cpu_count() or 1)
    return f"{cpu_seconds / capacity:.0%}"


def _megabytes(value: float) -> str:
    return f"{value / MB:,.0f} MB" if value >= MB else f"{value / 1024:.0f} kB"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
