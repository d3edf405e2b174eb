"""The pipelines' operational settings as one Dagster resource (`settings`), built in
`definitions.py` and injected into the schedules, sensors and assets that need them.

A field left unset takes its `RECOMPRA_*` variable, read by `recompra_pipelines.settings` when
the run or tick starts (so a bad value fails that run or tick, naming the variable, and the code
location still loads); a field set on the resource (tests, or a deployment's Definitions)
wins, checked by the same rule.
"""

from __future__ import annotations

import dagster as dg

from recompra_pipelines import settings as env
from recompra_pipelines.domain.retention import RetentionPolicy
from recompra_pipelines.domain.sync_plan import SyncCadence


class RecompraSettings(dg.ConfigurableResource):
    """Sync cadence and change check, the daily jobs' local hours and the retention of the CRM's
    raw ERP and webhook records. (The settings of sending, of alerts and of Dagster's history
    sit on the resource that uses them, parsed by the same rules.)"""

    sync_lookback_days: int | None = None
    sync_lookback_every_minutes: int | None = None
    sync_change_check: bool | None = None
    cashback_expiry_hour: int | None = None
    lifecycle_hour: int | None = None
    retention_raw_extract_days: int | None = None
    retention_quarantine_days: int | None = None
    retention_webhook_days: int | None = None
    retention_catalog_extract_days: int | None = None

    def sync_cadence(self) -> SyncCadence:
        return SyncCadence(
            lookback_days=env.SYNC_LOOKBACK_DAYS.resolve(self.sync_lookback_days),
            lookback_every_minutes=env.SYNC_LOOKBACK_EVERY_MINUTES.resolve(
                self.sync_lookback_every_minutes
            ),
        )

    def change_check_enabled(self) -> bool:
        return env.SYNC_CHANGE_CHECK.resolve(self.sync_change_check)

    def cashback_expiry_local_hour(self) -> int:
        return env.CASHBACK_EXPIRY_HOUR.resolve(self.cashback_expiry_hour)

    def lifecycle_local_hour(self) -> int:
        return env.LIFECYCLE_HOUR.resolve(self.lifecycle_hour)

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            raw_extract_days=env.RETENTION_RAW_EXTRACT_DAYS.resolve(
                self.retention_raw_extract_days
            ),
            quarantine_days=env.RETENTION_QUARANTINE_DAYS.resolve(self.retention_quarantine_days),
            webhook_days=env.RETENTION_WEBHOOK_DAYS.resolve(self.retention_webhook_days),
            catalog_extract_days=env.RETENTION_CATALOG_EXTRACT_DAYS.resolve(
                self.retention_catalog_extract_days
            ),
        )
