"""Every operational setting read from the environment: its variable, default and parsing rule,
each defined once here.

Deployments configure these by environment variable (the run launcher's env on Kubernetes, the
daemon's environment on one machine). The Dagster resources that carry them (`RecompraSettings`,
`DagsterHistoryRetention`, `Alerting`, `WhatsAppCloudApi`) take a value set on the resource
first, else read the variable here when a run or tick starts: a bad value fails that run or
tick naming the variable and the value, and never keeps the code location from loading.

One rule per kind, whatever the setting:
- a switch is `on`/`true`/`yes`/`1` or `off`/`false`/`no`/`0` (any case);
- a whole number (days, minutes, hours, counts: the unit is in the variable's name) must be at
  or above the setting's minimum (and at most its maximum, when it has one);
- an unset or blank variable means the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

SWITCH_ON = frozenset({"on", "true", "yes", "1"})
SWITCH_OFF = frozenset({"off", "false", "no", "0"})


class SettingError(ValueError):
    """A setting's variable holds a value its rule refuses."""


def _raw(name: str, environ: Mapping[str, str]) -> str:
    return environ.get(name, "").strip()


@dataclass(frozen=True)
class WholeNumber:
    env: str
    default: int
    minimum: int = 0
    maximum: int | None = None

    def parse(self, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingError(f"{self.env}={raw!r}: expected a whole number") from None
        return self.check(value, raw)

    def check(self, value: int, shown: object = None) -> int:
        shown = value if shown is None else shown
        if value < self.minimum:
            raise SettingError(f"{self.env}={shown!r}: must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise SettingError(f"{self.env}={shown!r}: must be at most {self.maximum}")
        return value

    def read(self, environ: Mapping[str, str] = os.environ) -> int:
        raw = _raw(self.env, environ)
        return self.parse(raw) if raw else self.default

    def resolve(self, configured: int | None, environ: Mapping[str, str] = os.environ) -> int:
        """The value set on a resource (checked by the same rule), else the variable's."""
        return self.read(environ) if configured is None else self.check(configured)


@dataclass(frozen=True)
class Switch:
    env: str
    default: bool

    def parse(self, raw: str) -> bool:
        word = raw.lower()
        if word in SWITCH_ON:
            return True
        if word in SWITCH_OFF:
            return False
        raise SettingError(f"{self.env}={raw!r}: expected on or off")

    def read(self, environ: Mapping[str, str] = os.environ) -> bool:
        raw = _raw(self.env, environ)
        return self.parse(raw) if raw else self.default

    def resolve(self, configured: bool | None, environ: Mapping[str, str] = os.environ) -> bool:
        return self.read(environ) if configured is None else configured


@dataclass(frozen=True)
class Text:
    env: str
    default: str | None = None

    def read(self, environ: Mapping[str, str] = os.environ) -> str | None:
        return _raw(self.env, environ) or self.default

    def resolve(
        self, configured: str | None, environ: Mapping[str, str] = os.environ
    ) -> str | None:
        return configured or self.read(environ)


# The CRM database (unset: the embedded server under RECOMPRA_HOME, which needs the demo extra).
DATABASE_URL = Text("RECOMPRA_DATABASE_URL")
HOME = Text("RECOMPRA_HOME", ".recompra")
# Where Cloud API messages go: Meta's Graph API unless pointed elsewhere (the simulator).
WHATSAPP_GRAPH_URL = Text("WHATSAPP_GRAPH_URL", "https://graph.facebook.com")
WHATSAPP_API_VERSION = Text("WHATSAPP_API_VERSION", "v22.0")

# The 5-minute sync schedule: today on every tick; the days before today (up to this many) on
# the ticks every this many minutes.
SYNC_LOOKBACK_DAYS = WholeNumber("RECOMPRA_SYNC_LOOKBACK_DAYS", 1, minimum=0)
SYNC_LOOKBACK_EVERY_MINUTES = WholeNumber(
    "RECOMPRA_SYNC_LOOKBACK_EVERY_MINUTES", 30, minimum=5, maximum=24 * 60
)
# Off: the schedule launches every due partition without asking the ERP whether it changed.
SYNC_CHANGE_CHECK = Switch("RECOMPRA_SYNC_CHANGE_CHECK", True)
# Local hours after which the daily runs start: expiry right after midnight (the lots due that
# day stopped being usable), the lifecycle campaigns at 2 for the day that ended.
CASHBACK_EXPIRY_HOUR = WholeNumber("RECOMPRA_CASHBACK_EXPIRY_HOUR", 0, minimum=0, maximum=23)
LIFECYCLE_HOUR = WholeNumber("RECOMPRA_LIFECYCLE_HOUR", 2, minimum=0, maximum=23)
# Off pauses every WhatsApp send (interactions wait PENDENTE): an operator's stop button.
WHATSAPP_DISPATCH = Switch("RECOMPRA_WHATSAPP_DISPATCH", True)

# Retention of the CRM's own records of the ERPs and of WhatsApp (the erp_retention asset).
RETENTION_RAW_EXTRACT_DAYS = WholeNumber("RECOMPRA_RETENTION_RAW_EXTRACT_DAYS", 90, minimum=1)
RETENTION_QUARANTINE_DAYS = WholeNumber("RECOMPRA_RETENTION_QUARANTINE_DAYS", 180, minimum=1)
# Webhook bodies are kept to read again what Meta sent; once their events are applied the
# statuses are on the interactions. At least 8 days: Meta delivers an unacknowledged webhook
# again for up to 7 days, and a body no longer stored would be stored and applied once more.
RETENTION_WEBHOOK_DAYS = WholeNumber("RECOMPRA_RETENTION_WEBHOOK_DAYS", 90, minimum=8)
# Catalog extracts: the catalog tables hold the current products; an older answer is only
# needed to explain a change, for as long as the raw sales extracts are kept.
RETENTION_CATALOG_EXTRACT_DAYS = WholeNumber(
    "RECOMPRA_RETENTION_CATALOG_EXTRACT_DAYS", 90, minimum=1
)

# Dagster's own history (the dagster_history_retention asset); a count of 0: no count limit.
# A week of runs: enough to look into last week's failures; at ~80 runs per organization a day
# it is what bounds Dagster's database (docs/operations.md has the arithmetic).
RETENTION_DAGSTER_RUN_DAYS = WholeNumber("RECOMPRA_RETENTION_DAGSTER_RUN_DAYS", 7, minimum=1)
# A ceiling for a fleet that grows faster than anyone resized the database: ~200 organizations'
# week.
RETENTION_DAGSTER_MAX_RUNS = WholeNumber("RECOMPRA_RETENTION_DAGSTER_MAX_RUNS", 100_000, minimum=0)
RETENTION_DAGSTER_TICK_DAYS = WholeNumber("RECOMPRA_RETENTION_DAGSTER_TICK_DAYS", 7, minimum=1)
# A 30-second sensor ticks 2,880 times a day: about a week of it.
RETENTION_DAGSTER_MAX_TICKS = WholeNumber("RECOMPRA_RETENTION_DAGSTER_MAX_TICKS", 20_000, minimum=0)

# The Dagster webserver: where `recompra backfill` submits and alert links point.
DAGSTER_URL = Text("RECOMPRA_DAGSTER_URL", "http://127.0.0.1:3000")

# Alerts: how long today may go without a successful sync while the ERP has new content, and
# where alerts go (the webhook URL and the SMTP password are secrets: environment only).
FRESHNESS_MINUTES = WholeNumber("RECOMPRA_FRESHNESS_MINUTES", 30, minimum=1)
ALERT_WEBHOOK_URL = Text("RECOMPRA_ALERT_WEBHOOK_URL")
ALERT_SMTP_HOST = Text("RECOMPRA_ALERT_SMTP_HOST")
ALERT_SMTP_PORT = WholeNumber("RECOMPRA_ALERT_SMTP_PORT", 587, minimum=1, maximum=65535)
ALERT_SMTP_USER = Text("RECOMPRA_ALERT_SMTP_USER")
ALERT_SMTP_PASSWORD = Text("RECOMPRA_ALERT_SMTP_PASSWORD")
ALERT_SMTP_STARTTLS = Switch("RECOMPRA_ALERT_SMTP_STARTTLS", True)
ALERT_EMAIL_FROM = Text("RECOMPRA_ALERT_EMAIL_FROM")
ALERT_EMAIL_TO = Text("RECOMPRA_ALERT_EMAIL_TO")
