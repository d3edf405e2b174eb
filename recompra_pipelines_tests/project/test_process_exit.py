"""Processes that load Dagster exit without a last garbage collection (process_exit.py)."""

import subprocess
import sys

import pytest

# An object kept alive only by a reference cycle until exit: its finalizer runs at exit only
# if the interpreter's shutdown collects garbage over the objects alive at that time.
_CYCLE_ALIVE_AT_EXIT = """
class Cycle:
    def __del__(self):
        print("collected at exit", flush=True)
kept = Cycle()
kept.itself = kept
"""

LOADS = {
    "nothing of ours": "",
    "the code location (a run worker)": "import recompra_pipelines.definitions",
    "the recompra command": (
        "from recompra_pipelines.cli import main\nmain(['db', '--help'], standalone_mode=False)"
    ),
}


@pytest.mark.parametrize("loads", LOADS)
def test_a_process_that_loads_dagster_skips_the_last_collection(loads):
    process = subprocess.run(
        [sys.executable, "-c", f"{LOADS[loads]}\n{_CYCLE_ALIVE_AT_EXIT}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    collected = "collected at exit" in process.stdout
    assert collected == (loads == "nothing of ours")
