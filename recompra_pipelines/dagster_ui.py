"""Where the Dagster webserver and instance are, and the UI pages that operators are sent to.

One address for everything that talks to or links into the UI: `recompra backfill` submits
there, and alerts link to runs and checks there. No Dagster import: the CLI stays quick.
"""

import os

from recompra_pipelines.settings import DAGSTER_URL

DAGSTER_URL_ENV = DAGSTER_URL.env
DEFAULT_DAGSTER_URL = DAGSTER_URL.default


def dagster_url() -> str:
    """The webserver's address: ``RECOMPRA_DAGSTER_URL``, else the local default."""
    return DAGSTER_URL.read() or DEFAULT_DAGSTER_URL


def dagster_home() -> str | None:
    """The Dagster instance's directory (DAGSTER_HOME, Dagster's own variable, read the way
    Dagster reads it); None: commands that run the graph use an ephemeral instance."""
    return os.environ.get("DAGSTER_HOME") or None


def run_page(base_url: str, run_id: str) -> str:
    return f"{base_url.rstrip('/')}/runs/{run_id}"


def backfill_page(base_url: str, backfill_id: str) -> str:
    return f"{base_url.rstrip('/')}/runs/b/{backfill_id}?tab=partitions"


def asset_checks_page(base_url: str, asset: str) -> str:
    return f"{base_url.rstrip('/')}/assets/{asset}?view=checks"


def organization_runs_page(base_url: str, org_id: str) -> str:
    """The runs of one organization (every job tags its partition's organization)."""
    return f"{base_url.rstrip('/')}/runs?q%5B0%5D=tag%3Adagster%2Fpartition%2Forg%3D{org_id}"
