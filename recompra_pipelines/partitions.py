"""Organization x day partitions (docs/architecture.md#partitions).

Keys read `2026-11-28|<org id>` (Dagster orders dimensions by name). The day dimension is in
São Paulo time and includes today (`end_offset=1`), so the 5-minute sync of the open day is a
valid partition. Organizations are a dynamic dimension, registered by the organizations sensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE

ORGANIZATIONS = "organizations"
PARTITIONS_START_DATE = "2024-01-01"
DAY_TIMEZONE = DEFAULT_TIMEZONE

# The tags Dagster puts on every run of an org x day partition (the run queue's per-organization
# limit keys on the org one).
PARTITION_TAG = "dagster/partition"
ORG_TAG = "dagster/partition/org"
DAY_TAG = "dagster/partition/date"

organization_partitions = dg.DynamicPartitionsDefinition(name=ORGANIZATIONS)
day_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START_DATE, timezone=DAY_TIMEZONE, end_offset=1
)
org_day_partitions = dg.MultiPartitionsDefinition(
    {"date": day_partitions, "org": organization_partitions}
)


@dataclass(frozen=True)
class OrgDay:
    org_id: str
    day: date


def is_partition_day(day: date, at: datetime) -> bool:
    """Whether `day` is a partition at time `at`: from the start date up to São Paulo's today.

    An organization east of São Paulo (Noronha) has no partition for its new day until São
    Paulo's midnight, a quirk of one shared day dimension.
    """
    return (
        date.fromisoformat(PARTITIONS_START_DATE)
        <= day
        <= at.astimezone(ZoneInfo(DAY_TIMEZONE)).date()
    )


# Longer than any cashback validity: "every earlier day" for a read of the whole ledger history.
EVERY_EARLIER_DAY = 3660


def same_org_days(first_offset: int, last_offset: int) -> dg.MultiPartitionMapping:
    """Lineage of an org x day asset that reads another over a window of days of the same
    organization: days `first_offset` .. `last_offset` relative to its own (e.g. -366, -1 for
    "the 12 months before the day"). Days before the first partition are simply absent."""
    return dg.MultiPartitionMapping(
        {
            "date": dg.DimensionPartitionMapping(
                "date",
                dg.TimeWindowPartitionMapping(
                    start_offset=first_offset,
                    end_offset=last_offset,
                    allow_nonexistent_upstream_partitions=True,
                ),
            ),
            "org": dg.DimensionPartitionMapping("org", dg.IdentityPartitionMapping()),
        }
    )


def org_day_key(org_id: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "org": org_id})


def org_day_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> OrgDay:
    """The partition of a run, whether Dagster hands us a MultiPartitionKey or a plain string."""
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        key = org_day_partitions.get_partition_key_from_str(key)
    by_dimension = key.keys_by_dimension
    return OrgDay(org_id=by_dimension["org"], day=date.fromisoformat(by_dimension["date"]))
