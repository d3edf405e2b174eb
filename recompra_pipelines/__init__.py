"""Recompra Pipelines.

The Dagster preview and beta APIs this project uses on purpose are listed, with the reason for
each, in the README ("Dagster preview and beta features"). Their warnings are silenced here,
by message, so they do not bury every console (the demo, `dagster dev`, run workers) under
the same lines; a preview or beta API used anywhere else still warns.
"""

import warnings

for _reviewed in (
    # Per-partition results of asset checks (org x day): no stable API gives them.
    r"Specifying a partitions_def on an AssetCheckSpec is currently in preview",
    # Lineage of reads over a window of days of the same organization.
    r"Class `MultiPartitionMapping` is currently in beta",
    r"Parameter `allow_nonexistent_upstream_partitions` of initializer "
    r"`TimeWindowPartitionMapping.__init__` is currently in beta",
    # Raised by Dagster itself when it binds resources to a sensor's job; we pass no owners.
    r"Parameter `owners` of initializer `SensorDefinition.__init__` is currently in beta",
):
    warnings.filterwarnings("ignore", message=_reviewed)

# platformdirs (through Dagster) warns on every start when a root shell has no
# XDG_RUNTIME_DIR; it then uses /tmp/runtime-<uid>, which is all Dagster needs.
warnings.filterwarnings("ignore", message=r"XDG_RUNTIME_DIR is not set")
