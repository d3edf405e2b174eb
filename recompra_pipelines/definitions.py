"""The one Definitions object of the project: `recompra_pipelines.definitions:defs`."""

import dagster as dg

from recompra_pipelines.assets.campaigns import CAMPAIGN_ASSETS
from recompra_pipelines.assets.cashback import CASHBACK_ASSETS
from recompra_pipelines.assets.cashback_expiry import cashback_expiry
from recompra_pipelines.assets.catalog import CATALOG_ASSETS
from recompra_pipelines.assets.dagster_history import dagster_history_retention
from recompra_pipelines.assets.erp_sync import SYNC_ASSETS
from recompra_pipelines.assets.lifecycle import LIFECYCLE_ASSETS
from recompra_pipelines.assets.maintenance import erp_retention
from recompra_pipelines.assets.whatsapp_dispatch import WHATSAPP_ASSETS
from recompra_pipelines.automation.alerts import operator_alerts_sensor
from recompra_pipelines.automation.cashback_expiry import (
    cashback_expiry_job,
    cashback_expiry_schedule,
)
from recompra_pipelines.automation.catalog import erp_catalog_job, erp_catalog_schedule
from recompra_pipelines.automation.erp_sync import (
    erp_sync_job,
    erp_sync_schedule,
    organizations_sensor,
)
from recompra_pipelines.automation.freshness import erp_freshness_sensor
from recompra_pipelines.automation.lifecycle import lifecycle_job, lifecycle_schedule
from recompra_pipelines.automation.maintenance import (
    dagster_history_retention_job,
    dagster_history_retention_schedule,
    erp_retention_job,
    erp_retention_schedule,
)
from recompra_pipelines.automation.whatsapp_dispatch import (
    whatsapp_dispatch,
    whatsapp_dispatch_sensor,
)
from recompra_pipelines.checks.cashback_checks import CASHBACK_CHECKS
from recompra_pipelines.checks.engagement_checks import ENGAGEMENT_CHECKS
from recompra_pipelines.checks.erp_sync_checks import SYNC_CHECKS
from recompra_pipelines.process_exit import skip_final_collections
from recompra_pipelines.resources.alerting import Alerting
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.dagster_history import DagsterHistoryRetention
from recompra_pipelines.resources.erp import ErpConnectors
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines.resources.whatsapp import WhatsAppCloudApi

# Every process that loads the code location (run workers above all) exits without a last
# garbage collection over Dagster's objects (~0.45 s each).
skip_final_collections()

defs = dg.Definitions(
    assets=[
        *SYNC_ASSETS,
        erp_retention,
        dagster_history_retention,
        *WHATSAPP_ASSETS,
        *CASHBACK_ASSETS,
        cashback_expiry,
        *CAMPAIGN_ASSETS,
        *LIFECYCLE_ASSETS,
        *CATALOG_ASSETS,
    ],
    asset_checks=[*SYNC_CHECKS, *CASHBACK_CHECKS, *ENGAGEMENT_CHECKS],
    jobs=[
        erp_sync_job,
        erp_retention_job,
        dagster_history_retention_job,
        whatsapp_dispatch,
        cashback_expiry_job,
        lifecycle_job,
        erp_catalog_job,
    ],
    schedules=[
        erp_sync_schedule,
        erp_retention_schedule,
        dagster_history_retention_schedule,
        cashback_expiry_schedule,
        lifecycle_schedule,
        erp_catalog_schedule,
    ],
    sensors=[
        organizations_sensor,
        whatsapp_dispatch_sensor,
        erp_freshness_sensor,
        operator_alerts_sensor,
    ],
    resources={
        "crm_db": CrmDatabase(url=dg.EnvVar("RECOMPRA_DATABASE_URL")),
        "erp": ErpConnectors(),
        "whatsapp": WhatsAppCloudApi(),
        "alerts": Alerting(),
        "dagster_history": DagsterHistoryRetention(),
        # Every field unset: each comes from its RECOMPRA_* variable when a run or tick starts.
        "settings": RecompraSettings(),
    },
    # Every job runs its steps in one process, one after the other: the steps share the
    # database, not Python values, so a process per step (Dagster's default) would only add
    # seconds of start-up. This includes the runs the UI launches for an asset selection.
    executor=dg.in_process_executor,
)
