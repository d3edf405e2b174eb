"""A process that loaded Dagster ends without collecting its garbage one last time.

Python's shutdown tears modules down and runs full garbage collections over every object
still alive while it does. A process that imported Dagster and the code location holds about
250,000 of them, so that last work took 0.6-0.8 s of every `recompra sync` and ~0.45 s of
every process that merely imports the code location (each run worker the daemon starts),
measured on a 2-core machine: up to a twentieth of a run's whole cost, spent on memory the
operating system takes back anyway. Frozen at exit (`gc.freeze`), those objects are left
out of the collections; the exit handlers still run before (log handlers flushed, temporary
directories removed, database engines we created disposed), and whatever is freed by its
reference count still is. What is left undone is what Python never promises at exit anyway:
finalizers of objects kept alive only by reference cycles.
"""

from __future__ import annotations

import atexit
import gc
import threading

_lock = threading.Lock()
_registered = False


def skip_final_collections() -> None:
    """Freeze every object at exit, once per process, after the exit handlers registered later
    (those run first)."""
    global _registered
    with _lock:
        if not _registered:
            atexit.register(gc.freeze)
            _registered = True
