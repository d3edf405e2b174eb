"""A Dagster test instance with its runs and events in memory, that schedules and sensors can use.

Dagster's default (SQLite) storage opens a new SQLAlchemy engine for every event it stores and
creates, migrates and stamps a database file for every run: a small day's sync-graph run took
3.7-6.4 s with it and 0.9-1.5 s with in-memory storage on the 2-core development machine (busy),
and the tests run some 80 of them. Dagster's in-memory storage (the one `dg.materialize` uses
when given no instance) is the same SQL event log and run storage over an in-memory SQLite
database. `DagsterInstance.ephemeral()` uses it but has no instance ref, so
`build_schedule_context` / `build_sensor_context` cannot use that instance.

This instance is a real `DagsterInstance` loaded from a `dagster.yaml` in a temporary
`DAGSTER_HOME`, whose storage is named in that file (`storage: custom:`). Every instance opened
from it in this process (a schedule context's `context.instance`, `DagsterInstance.get()` in the
CLI) finds the same in-memory runs and events by the storage's name, so a run a test adds is
seen by the schedule it evaluates. Schedule and sensor state (ticks, cursors) is the ordinary
SQLite schedule storage in the same directory. Nothing leaves the process: a subprocess that
opens the instance (there is none in the tests) would see empty storage.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.in_memory import InMemoryEventLogStorage
from dagster._core.storage.runs.in_memory import InMemoryRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData


class _SharedRunStorage(InMemoryRunStorage):
    """Shared by every instance opened from the same ref: it stays bound to the first and open
    when another is disposed."""

    def register_instance(self, instance: dg.DagsterInstance) -> None:
        if not self.has_instance:
            super().register_instance(instance)

    def dispose(self) -> None:
        pass

    def close(self) -> None:
        super().dispose()


class _SharedEventLogStorage(InMemoryEventLogStorage):
    def register_instance(self, instance: dg.DagsterInstance) -> None:
        if not self.has_instance:
            super().register_instance(instance)

    def dispose(self) -> None:
        pass

    def close(self) -> None:
        super().dispose()


@dataclass
class _Storages:
    runs: _SharedRunStorage
    events: _SharedEventLogStorage


_OPEN: dict[str, _Storages] = {}


class InMemoryTestStorage(DagsterStorage, ConfigurableClass):
    """The in-memory runs and events registered under `name`, and SQLite schedule storage."""

    def __init__(self, name: str, base_dir: str, inst_data: ConfigurableClassData | None = None):
        storages = _OPEN[name]
        self._run_storage = storages.runs
        self._event_log_storage = storages.events
        self._schedule_storage = SqliteScheduleStorage.from_local(str(Path(base_dir, "schedules")))
        self._inst_data = inst_data
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {"name": str, "base_dir": str}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict):
        return cls(inst_data=inst_data, **config_value)

    @property
    def event_log_storage(self) -> InMemoryEventLogStorage:
        return self._event_log_storage

    @property
    def run_storage(self) -> InMemoryRunStorage:
        return self._run_storage

    @property
    def schedule_storage(self) -> SqliteScheduleStorage:
        return self._schedule_storage


def _instance_config(name: str, home: str) -> dict:
    return {
        "storage": {
            "custom": {
                "module": __name__,
                "class": InMemoryTestStorage.__name__,
                "config": {"name": name, "base_dir": home},
            }
        },
        "compute_logs": {
            "module": "dagster._core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        },
    }


@contextmanager
def in_memory_instance() -> Iterator[dg.DagsterInstance]:
    """`dg.instance_for_test()` (temporary DAGSTER_HOME with its dagster.yaml, cleanup) with the
    in-memory storage above and no compute-log capture."""
    name = uuid.uuid4().hex
    _OPEN[name] = _Storages(runs=_SharedRunStorage(), events=_SharedEventLogStorage())
    try:
        with tempfile.TemporaryDirectory(prefix="dagster-home-") as home:
            overrides = _instance_config(name, home)
            with dg.instance_for_test(temp_dir=home, overrides=overrides) as instance:
                yield instance
    finally:
        storages = _OPEN.pop(name)
        storages.runs.close()
        storages.events.close()
