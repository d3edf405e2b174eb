"""The one Definitions object of the project: `recompra_pipelines.definitions:defs`."""

import dagster as dg

from recompra_pipelines.assets.erp_sync import SYNC_ASSETS
from recompra_pipelines.automation.erp_sync import (
    erp_sync_job,
    erp_sync_schedule,
    organizations_sensor,
)
from recompra_pipelines.checks.erp_sync_checks import SYNC_CHECKS
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.erp import ErpConnectors

defs = dg.Definitions(
    assets=SYNC_ASSETS,
    asset_checks=SYNC_CHECKS,
    jobs=[erp_sync_job],
    schedules=[erp_sync_schedule],
    sensors=[organizations_sensor],
    resources={
        "crm_db": CrmDatabase(url=dg.EnvVar("RECOMPRA_DATABASE_URL")),
        "erp": ErpConnectors(),
    },
)
