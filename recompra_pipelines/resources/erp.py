"""How politely, and for how long, the sync talks to ERPs: shared by every connector."""

import dagster as dg

from recompra_pipelines.connectors.http import FetchSettings, RetrySettings

_DEFAULTS = FetchSettings()
_RETRY = RetrySettings()


class ErpConnectors(dg.ConfigurableResource):
    """ERP HTTP settings. Credentials and URLs live in each organization's integration config.

    A request must be answered whole within `request_deadline_seconds` (connect plus every
    read: a server trickling bytes cannot hold a run), and the fetch step (every request,
    retry and rate-limit wait of the day) within `fetch_deadline_seconds`; past it the run
    fails with the reason and frees the organization's slot. CardápioWeb keeps what it fetched
    and leaves the rest of the day's orders pending for the next run.
    """

    timeout_seconds: float = _DEFAULTS.timeout_seconds
    request_deadline_seconds: float = _DEFAULTS.request_deadline_seconds
    fetch_deadline_seconds: float = _DEFAULTS.fetch_deadline_seconds
    max_response_bytes: int = _DEFAULTS.max_response_bytes
    max_attempts: int = _RETRY.max_attempts
    backoff_seconds: float = _RETRY.backoff_seconds
    max_backoff_seconds: float = _RETRY.max_backoff_seconds
    max_retry_after_seconds: float = _RETRY.max_retry_after_seconds

    def fetch_settings(self) -> FetchSettings:
        return FetchSettings(
            timeout_seconds=self.timeout_seconds,
            request_deadline_seconds=self.request_deadline_seconds,
            fetch_deadline_seconds=self.fetch_deadline_seconds,
            max_response_bytes=self.max_response_bytes,
            retry=RetrySettings(
                max_attempts=self.max_attempts,
                backoff_seconds=self.backoff_seconds,
                max_backoff_seconds=self.max_backoff_seconds,
                max_retry_after_seconds=self.max_retry_after_seconds,
            ),
        )
