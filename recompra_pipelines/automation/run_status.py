"""Dagster run statuses as the automation reads them."""

import dagster as dg

# A run not finished yet: queued, being launched, or running. A partition with one is not
# requested again (two runs of one org x day would only wait on each other's lock).
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
