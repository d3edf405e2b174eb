"""How politely the sync talks to ERPs: timeouts and retries, shared by every connector."""

import dagster as dg

from recompra_pipelines.connectors.http import RetrySettings
from recompra_pipelines.connectors.registry import FetchSettings


class ErpConnectors(dg.ConfigurableResource):
    """ERP HTTP settings. Credentials and URLs live in each organization's integration config."""

    timeout_seconds: float = 60.0
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0

    def fetch_settings(self) -> FetchSettings:
        return FetchSettings(
            timeout_seconds=self.timeout_seconds,
            retry=RetrySettings(
                max_attempts=self.max_attempts,
                backoff_seconds=self.backoff_seconds,
                max_backoff_seconds=self.max_backoff_seconds,
                max_retry_after_seconds=self.max_retry_after_seconds,
            ),
        )
