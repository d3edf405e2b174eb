"""`recompra backfill`: a backfill of the `erp_sync` job, submitted the way the UI does.

It sends the UI's own GraphQL mutation (`launchPartitionBackfill` with the job's partition set)
to the Dagster webserver, so the backfill shows in the UI (Overview → Backfills, and the
`erp_sync` job page), the daemon runs it one run per organization × day, and the run queue's
per-organization limit applies to its runs as to any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import httpx

from recompra_pipelines.asset_groups import SYNC_JOB
from recompra_pipelines.dagster_ui import DAGSTER_URL_ENV, backfill_page
from recompra_pipelines.partitions import ORGANIZATIONS, PARTITIONS_START_DATE, org_day_key

# Dagster names a partitioned job's partition set after the job.
SYNC_PARTITION_SET = f"{SYNC_JOB}_partition_set"
TIMEOUT_SECONDS = 60.0

_REPOSITORIES = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } pipelines { name } } }
    ... on PythonError { message }
  }
}
"""

_LAUNCH = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
    ... on PartitionKeysNotFoundError { partitionKeys }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
    ... on RunConflict { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ... on PresetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
  }
}
"""


class BackfillError(RuntimeError):
    """The backfill was not submitted; the message says why."""


@dataclass(frozen=True)
class BackfillRequest:
    org_ids: tuple[str, ...]
    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if not self.org_ids:
            raise BackfillError("name at least one organization (--org)")
        if self.first_day > self.last_day:
            raise BackfillError(
                f"--from {self.first_day} is after --to {self.last_day}: nothing to backfill"
            )

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=n) for n in range(count)]

    @property
    def partition_keys(self) -> list[str]:
        """Day by day, so each organization's history fills in from its oldest day."""
        return [str(org_day_key(org, day)) for day in self.days for org in self.org_ids]

    @property
    def title(self) -> str:
        return (
            f"{SYNC_JOB} {self.first_day}..{self.last_day} for {', '.join(self.org_ids)}"
            " (recompra backfill)"
        )


@dataclass(frozen=True)
class BackfillLaunched:
    backfill_id: str
    partitions: int
    url: str


def launch_sync_backfill(dagster_url: str, request: BackfillRequest) -> BackfillLaunched:
    """Submit the backfill to the webserver at `dagster_url`; the daemon then runs it."""
    base = dagster_url.rstrip("/")
    with httpx.Client(base_url=base, timeout=TIMEOUT_SECONDS) as client:
        location, repository = _sync_job_repository(client)
        result = _graphql(
            client,
            _LAUNCH,
            {
                "backfillParams": {
                    "selector": {
                        "partitionSetName": SYNC_PARTITION_SET,
                        "repositorySelector": {
                            "repositoryName": repository,
                            "repositoryLocationName": location,
                        },
                    },
                    "partitionNames": request.partition_keys,
                    "title": request.title,
                }
            },
        )["launchPartitionBackfill"]
    if result["__typename"] == "PartitionKeysNotFoundError":
        missing = sorted(result["partitionKeys"])
        raise BackfillError(
            f"no such partition(s): {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}."
            f" Either the organization is not registered in Dagster's '{ORGANIZATIONS}' "
            "partitions yet (the organizations sensor registers every organization with an "
            "active integration within a minute of `recompra org apply`), or the day is after "
            f"today or before {PARTITIONS_START_DATE}"
        )
    if result["__typename"] != "LaunchBackfillSuccess":
        detail = result.get("message") or result
        raise BackfillError(f"Dagster refused the backfill ({result['__typename']}): {detail}")
    backfill_id = result["backfillId"]
    return BackfillLaunched(
        backfill_id=backfill_id,
        partitions=len(request.partition_keys),
        url=backfill_page(base, backfill_id),
    )


def _sync_job_repository(client: httpx.Client) -> tuple[str, str]:
    """(code location, repository) of the job, as the webserver knows them."""
    found = _graphql(client, _REPOSITORIES, {})["repositoriesOrError"]
    if found["__typename"] != "RepositoryConnection":
        raise BackfillError(f"the Dagster webserver cannot list its code: {found.get('message')}")
    for repository in found["nodes"]:
        if any(job["name"] == SYNC_JOB for job in repository["pipelines"]):
            return repository["location"]["name"], repository["name"]
    raise BackfillError(f"no code location served by the webserver has the {SYNC_JOB} job")


def _graphql(client: httpx.Client, query: str, variables: dict) -> dict:
    try:
        response = client.post("/graphql", json={"query": query, "variables": variables})
    except httpx.HTTPError as error:
        raise BackfillError(
            f"cannot reach the Dagster webserver at {client.base_url} ({error}); start it "
            f"(make demo, or dagster-webserver) or point --dagster-url / {DAGSTER_URL_ENV} at it"
        ) from None
    if response.status_code != 200:
        raise BackfillError(
            f"the Dagster webserver at {client.base_url} answered HTTP {response.status_code}"
        )
    body = response.json()
    if body.get("errors"):
        raise BackfillError(f"Dagster's GraphQL API refused the request: {body['errors'][0]}")
    return body["data"]
