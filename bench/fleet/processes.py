"""CPU and memory of the processes a fleet run is made of, sampled once a second.

The daemon's tree is split into the daemon itself, its code servers (schedule and sensor
evaluations, run launches; the daemon replaces them from time to time) and the run workers a
code server spawns, one per run, with whatever those start. PostgreSQL is the embedded
server's postmaster with its backends; a shared server cannot be attributed and is reported as
not measured.

The daemon replaces its code server every minute (it drops its gRPC endpoints to refresh the
workspace), and the new one imports the code location again: that churn is in "code servers".

CPU is counted per process, so nothing is lost between samples: a process that exits is
waited for by its parent, and the kernel adds its CPU (and its own children's) to the parent's
children-time, which is read too. A process seen alive contributes what it used since the
window began; one that exited contributes through its parent; one born and gone between two
samples was never seen but is in its parent's children-time all the same. Only the daemon's
children-time is left out: the code servers it waits for are counted as themselves.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

import psutil

SAMPLE_SECONDS = 1.0


class Part(StrEnum):
    DAEMON = "dagster-daemon"
    CODE_SERVER = "code servers"
    RUN_WORKERS = "run workers"
    POSTGRES = "PostgreSQL"
    SIMULATORS = "simulators (ERP, WhatsApp)"


@dataclass
class PartUsage:
    cpu_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    mean_memory_mb: float = 0.0
    peak_processes: int = 0
    processes_seen: int = 0


@dataclass
class _Tracked:
    parent: int
    own_part: Part
    reaped_part: Part | None  # None: its children-time is not counted
    own_base: float
    reaped_base: float
    own_last: float
    reaped_last: float
    alive: bool = True


class ProcessSampler:
    """Samples the given root processes every second from a background thread."""

    def __init__(self, *, daemon: int, simulators: int, postmaster: int | None) -> None:
        self.daemon = psutil.Process(daemon)
        self.simulators = psutil.Process(simulators)
        self.postmaster = psutil.Process(postmaster) if postmaster else None
        self._tracked: dict[int, _Tracked] = {}
        self._memory: dict[Part, list[float]] = defaultdict(list)
        self._processes: dict[Part, int] = defaultdict(int)
        self._started = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="process-sampler", daemon=True)

    def start(self) -> None:
        self._started = time.time()
        self._sample(first=True)
        self._thread.start()

    def stop(self) -> dict[Part, PartUsage]:
        self._stop.set()
        self._thread.join()
        self._sample(first=False)
        cpu: dict[Part, float] = defaultdict(float)
        for tracked in self._tracked.values():
            parent = self._tracked.get(tracked.parent)
            counted_by_parent = parent is not None and parent.reaped_part is not None
            if tracked.alive or not counted_by_parent:
                cpu[tracked.own_part] += tracked.own_last - tracked.own_base
                if tracked.reaped_part is not None:
                    cpu[tracked.reaped_part] += tracked.reaped_last - tracked.reaped_base
            else:  # its whole life is in the parent's children-time: take out what came before
                cpu[parent.reaped_part] -= tracked.own_base + tracked.reaped_base
        parts = [p for p in Part if p is not Part.POSTGRES or self.postmaster is not None]
        usage = {}
        for part in parts:
            samples = self._memory[part] or [0.0]
            usage[part] = PartUsage(
                cpu_seconds=cpu[part],
                peak_memory_mb=max(samples),
                mean_memory_mb=sum(samples) / len(samples),
                peak_processes=self._processes[part],
                processes_seen=sum(t.own_part is part for t in self._tracked.values()),
            )
        return usage

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample(first=False)

    def _sample(self, *, first: bool) -> None:
        memory: dict[Part, float] = defaultdict(float)
        count: dict[Part, int] = defaultdict(int)
        alive = set()
        for process, own_part, reaped_part in self._members():
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    parent = process.ppid()
                    born = process.create_time()
                    megabytes = _memory_mb(process, shared_pages=own_part is Part.POSTGRES)
            except psutil.Error:
                continue
            own = times.user + times.system
            reaped = times.children_user + times.children_system
            tracked = self._tracked.get(process.pid)
            if tracked is None:
                existed = first or born < self._started
                tracked = self._tracked[process.pid] = _Tracked(
                    parent=parent,
                    own_part=own_part,
                    reaped_part=reaped_part,
                    own_base=own if existed else 0.0,
                    reaped_base=reaped if existed else 0.0,
                    own_last=own,
                    reaped_last=reaped,
                )
            tracked.own_last, tracked.reaped_last = own, reaped
            # A new code server looks like the daemon until it has exec'd, an exiting one
            # (and its workers) after its command line is gone: a process first taken for
            # the daemon's may turn out to be a code server or a worker, never the reverse.
            if tracked.own_part is Part.DAEMON:
                tracked.own_part, tracked.reaped_part = own_part, reaped_part
            alive.add(process.pid)
            memory[tracked.own_part] += megabytes
            count[tracked.own_part] += 1
        for pid, tracked in self._tracked.items():
            tracked.alive = pid in alive
        if not first:
            for part in Part:
                self._memory[part].append(memory[part])
                self._processes[part] = max(self._processes[part], count[part])

    def _members(self):
        """(process, where its own CPU goes, where its children-time goes or None)."""
        yield self.daemon, Part.DAEMON, None
        for child in _children(self.daemon, recursive=False):
            if _is_code_server(child):
                yield child, Part.CODE_SERVER, Part.RUN_WORKERS
                for worker in _children(child):
                    yield worker, Part.RUN_WORKERS, Part.RUN_WORKERS
            else:
                yield child, Part.DAEMON, Part.DAEMON
                for grandchild in _children(child):
                    yield grandchild, Part.DAEMON, Part.DAEMON
        for process in (self.simulators, *_children(self.simulators)):
            yield process, Part.SIMULATORS, Part.SIMULATORS
        if self.postmaster is not None:
            for process in (self.postmaster, *_children(self.postmaster)):
                yield process, Part.POSTGRES, Part.POSTGRES


def _memory_mb(process: psutil.Process, *, shared_pages: bool) -> float:
    """RSS, or PSS for PostgreSQL, whose backends all map the same shared buffers."""
    if shared_pages:
        return process.memory_full_info().pss / 2**20
    return process.memory_info().rss / 2**20


def _children(process: psutil.Process, *, recursive: bool = True) -> list[psutil.Process]:
    try:
        return process.children(recursive=recursive)
    except psutil.Error:
        return []


def _is_code_server(process: psutil.Process) -> bool:
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return False
    return "grpc" in command or "code-server" in command
