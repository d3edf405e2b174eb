"""The steps of one org x day sync, each one transaction under the organization's lock.

Dagster assets call these; so do the CLI and the benchmarks. Each step reads what the previous
one wrote to the database, so any step can be re-run alone, and re-running is always safe.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from recompra_pipelines.connectors.base import ConnectorConfig, ConnectorConfigError
from recompra_pipelines.connectors.errors import ErpPayloadError, ErpRequestError
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.connectors.http import RetrySettings
from recompra_pipelines.connectors.registry import Connector, FetchSettings, connector_for
from recompra_pipelines.credentials import MissingSecret, Redactor
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.db.entities import EntityCounts, upsert_entities
from recompra_pipelines.db.extracts import (
    extract_is_stored,
    latest_extract,
    record_reading,
    staged_extract_hash,
    store_extract,
    touch_extract,
)
from recompra_pipelines.db.sales_load import SalesCounts, load_sales
from recompra_pipelines.db.staging import (
    QuarantinedRecord,
    StagingSummary,
    replace_staging,
    staged_content,
)
from recompra_pipelines.db.sync_progress import StepMarker, day_progress, mark_done
from recompra_pipelines.db.tables.sync import erp_staging_extracts, organizations
from recompra_pipelines.domain.normalization import normalize_sale
from recompra_pipelines.domain.sales import (
    WHOLE_RECORD,
    Occurrence,
    RecordRejected,
    record_hash,
)
from recompra_pipelines.domain.storable import MAX_KEY_LENGTH, shown, storable_text, unstorable
from recompra_pipelines.errors import StepError
from recompra_pipelines.sync.allocation import collector_paused
from recompra_pipelines.sync.organizations import Organization, load_organization

log = logging.getLogger(__name__)


class SyncError(StepError):
    """A step cannot go on; the message names the organization and day."""


# Quarantine labels (field, reason) are for people: a hostile value is cut, never stored whole.
MAX_LABEL_LENGTH = 500


@dataclass(frozen=True)
class ExtractResult:
    extract_id: UUID
    content_hash: str
    new_content: bool
    size_bytes: int
    attempts: int
    # Records the ERP listed but did not deliver (e.g. a failed CardápioWeb detail call).
    pending: int = 0


@dataclass(frozen=True)
class NormalizeResult:
    extract_id: UUID
    already_staged: bool
    received: int = 0
    staged: int = 0
    # Records mapped by this run, and sales whose staged row was kept (content unchanged).
    mapped: int = 0
    unchanged: int = 0
    quarantined: int = 0
    troco_dropped: int = 0
    quarantined_by_field: dict[str, int] = field(default_factory=dict)
    # Listed by the ERP but not delivered: left as they are, fetched again by the next run.
    pending: int = 0
    # Unknown values loaded anyway (enum drift): "field: unknown value 'x'" -> records.
    warnings: dict[str, int] = field(default_factory=dict)


# One quick request, no retries: how ticks and the freshness check ask an ERP whether a day
# changed. A slow or failing answer is reported, never waited for: the whole check ends within
# the 40 s a sensor tick gives it (a CardápioWeb day's detail calls included).
QUICK_CHECK_FETCH = FetchSettings(
    timeout_seconds=20.0,
    retry=RetrySettings(max_attempts=1),
    request_deadline_seconds=20.0,
    fetch_deadline_seconds=40.0,
)


def fetch_day(engine: sa.Engine, org_id: str, day: date, settings: FetchSettings) -> RawExtract:
    """The organization's day as its ERP answers now, without storing anything."""
    return _fetch(engine, org_id, day, settings)[1]


def _fetch(
    engine: sa.Engine, org_id: str, day: date, settings: FetchSettings
) -> tuple[Connector, RawExtract]:
    """Connectors that can (CardápioWeb) reuse the stored extract to skip unchanged details."""
    with engine.connect() as conn:
        org = _integrated(load_organization(conn, org_id))
        connector = connector_for(org.integration_type)
        previous = None
        if connector.uses_previous_extract:
            stored = latest_extract(conn, org_id, day)
            if stored is not None and stored.integration_type == connector.integration_type:
                previous = stored.text
    raw = call_erp(
        org,
        connector,
        f"organization {org_id}, day {day}",
        lambda config: connector.fetch_day(
            config, day, settings.started(), timezone=org.timezone, previous=previous
        ),
    )
    return connector, raw


def call_erp(
    org: Organization,
    connector: Connector,
    where: str,
    call: Callable[[ConnectorConfig], RawExtract],
) -> RawExtract:
    """`call` with the organization's integration config, parsed by the connector's model, its
    secrets given by reference read from this run's environment.

    The ERP's expected failures (it cannot be asked, its answer cannot be read, the config is
    wrong) are a SyncError starting with `where`, caused by the original error; anything else is
    a bug in the connector and propagates as it is, its traceback intact and `where` added as a
    note. Neither carries a secret: the redactor rewrites the error's own message too.
    """
    try:
        config = connector.parse_config(org.integration_config)
    except (MissingSecret, ConnectorConfigError) as problem:
        raise SyncError(f"{where}: integration {problem}") from problem
    redactor = Redactor(config.secret_values())
    try:
        raw = call(config)
    except Exception as error:
        _redact_message(error, redactor)
        if isinstance(error, ErpRequestError | ErpPayloadError):
            raise SyncError(f"{where}: {error}") from error
        error.add_note(f"in the {connector.integration_type} connector, {where}")
        raise
    return _without_secrets(raw, redactor)


def _redact_message(error: BaseException, redactor: Redactor) -> None:
    """Replace the secrets in an exception's own text (and its causes'), in place: a server may
    echo a credential into an error, and a traceback is logged with its message."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        error.args = tuple(redactor.text(a) if isinstance(a, str) else a for a in error.args)
        error = error.__cause__ or error.__context__


def _without_secrets(raw: RawExtract, redactor: Redactor) -> RawExtract:
    """The extract as stored: exactly the bytes received, except that the organization's own
    secrets, when a server echoes them, are replaced (a credential never rests in the CRM)."""
    content = redactor.bytes(raw.content)
    if content is raw.content or content == raw.content:
        return raw
    return dataclasses.replace(raw, content=content)


@dataclass(frozen=True)
class ExtractReading:
    """Whether a response is a readable list of records: how many, or why not."""

    records: int | None
    error: str | None


def read_extract(connector: Connector, text: str) -> ExtractReading:
    """Read a response's envelope once (its records are mapped by the normalize step)."""
    with collector_paused():
        records, error = read_records(connector, text)
    return ExtractReading(records=None if records is None else len(records), error=error)


class _JustRead:
    """The extract this process has just fetched and read, held for the normalize step that
    follows in the same process (Dagster's in-process executor runs a run's steps in one
    process, as the CLI and the benchmarks do): a 20,000-sale day (45 MB) is then decompressed
    and parsed once, not twice. One extract at most, handed over once and only for its own
    content hash; any other normalize reads the stored extract as before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: tuple[str, str, list[Any]] | None = None

    def hold(self, content_hash: str, text: str, records: list[Any]) -> None:
        with self._lock:
            self._held = (content_hash, text, records)

    def take(self, content_hash: str) -> tuple[str, list[Any]] | None:
        """(text, records) of that content, if this process read it last; released either way."""
        with self._lock:
            held, self._held = self._held, None
        if held is None or held[0] != content_hash:
            return None
        return held[1], held[2]


_just_read = _JustRead()


def read_records(connector: Connector, text: str) -> tuple[list[Any] | None, str | None]:
    """(the records, None), or (None, why the text cannot be read). Whatever a reader raises
    on whatever the ERP sent is the reading's error, never an exception past it."""
    try:
        return connector.records(text), None
    except ErpPayloadError as error:
        return None, str(error)
    except Exception as error:
        return None, (
            f"the {connector.integration_type} reader failed: {type(error).__name__}: "
            f"{storable_text(str(error))[:MAX_LABEL_LENGTH]}"
        )


def fetch_raw_extract(
    engine: sa.Engine, org_id: str, day: date, settings: FetchSettings = FetchSettings()
) -> ExtractResult:
    """Ask the ERP for the day and store the response, untouched, before anything parses it;
    then record what reading it found (how many records, or why it is not a list of sales)."""
    connector, raw = _fetch(engine, org_id, day, settings)
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        if extract_is_stored(conn, org_id, day, connector.integration_type, raw.content_hash):
            extract_id, new_content = (
                touch_extract(conn, org_id, day, connector.integration_type, raw.content_hash),
                False,
            )
        else:
            stored = store_extract(
                conn,
                org_id=org_id,
                day=day,
                integration_type=connector.integration_type,
                request=raw.request,
                status_code=raw.status_code,
                content=raw.content,
                content_hash=raw.content_hash,
            )
            extract_id, new_content = stored.id, stored.is_new
        conn.execute(
            sa.update(organizations)
            .where(organizations.c.id == org_id)
            .values(integracao_data_ultima_sincronizacao=sa.func.now())
        )
    if new_content:
        # Read once while the text is at hand (committed first: nothing parses an unstored
        # response); the readable check then needs neither decompression nor a second parse.
        text = raw.text
        with collector_paused():
            records, error = read_records(connector, text)
        with engine.begin() as conn:
            record_reading(conn, extract_id, None if records is None else len(records), error)
        if records is not None:
            _just_read.hold(raw.content_hash, text, records)
    return ExtractResult(
        extract_id=extract_id,
        content_hash=raw.content_hash,
        new_content=new_content,
        size_bytes=len(raw.content),
        attempts=raw.attempts,
        pending=len(_pending_ids(connector, raw.text)),
    )


def normalize_sales(engine: sa.Engine, org_id: str, day: date, now: datetime) -> NormalizeResult:
    """Validate the latest extract into staging; bad records go to quarantine, the rest loads.

    A record whose content is already staged keeps its staged row without being mapped again:
    an open day that gained a few sales since the last tick maps those few, not the whole day.
    """
    with collector_paused(), engine.begin() as conn:
        lock_organization(conn, org_id)
        org = load_organization(conn, org_id)
        latest = latest_extract(conn, org_id, day, with_text=False)
        if latest is None:
            raise SyncError(
                f"organization {org_id}, day {day}: no ERP extract stored; fetch it first"
            )
        if staged_extract_hash(conn, org_id, day) == latest.content_hash:
            # Staging already holds this content: nothing to read, parse or write.
            return NormalizeResult(extract_id=latest.id, already_staged=True)
        connector = connector_for(latest.integration_type)
        just_read = _just_read.take(latest.content_hash)
        if just_read is not None:
            text, records = just_read
            reading_error = None
        else:
            text = latest_extract(conn, org_id, day).text
            records, reading_error = read_records(connector, text)
        if records is None:
            raise SyncError(
                f"organization {org_id}, day {day}: ERP payload cannot be read: {reading_error} "
                f"(raw response kept as erp_raw_extracts id {latest.id})"
            )
        pending = connector.pending_ids(text)
        mapping = DayMapping(connector, day, org.timezone)
        mapping.map_changed(records, staged_content(conn, org_id, day))
        normalized = [normalize_sale(o.sale, org.timezone, now) for o in mapping.kept]
        summary = StagingSummary(
            received=len(records),
            staged=len(mapping.unchanged) + len(normalized),
            quarantined=len(mapping.quarantined),
            troco_dropped=len(mapping.dropped),
            complete=_lists_whole_day(connector, text, records, mapping.quarantined),
            listed_not_staged=tuple(
                sorted({q.external_id for q in mapping.quarantined if q.external_id} | set(pending))
            ),
        )
        replace_staging(
            conn,
            org_id=org_id,
            day=day,
            integration_type=latest.integration_type,
            extract_id=latest.id,
            content_hash=latest.content_hash,
            sales=normalized,
            unchanged=mapping.unchanged.keys(),
            quarantined=mapping.quarantined,
            summary=summary,
        )
    return NormalizeResult(
        extract_id=latest.id,
        already_staged=False,
        received=summary.received,
        staged=summary.staged,
        mapped=mapping.mapped,
        unchanged=len(mapping.unchanged),
        quarantined=summary.quarantined,
        troco_dropped=summary.troco_dropped,
        quarantined_by_field=dict(Counter(_field_family(q.field) for q in mapping.quarantined)),
        pending=len(pending),
        warnings=dict(Counter(w for o in mapping.kept for w in o.sale.warnings)),
    )


class DayMapping:
    """One extract's records as sales to stage (`kept`), repeats `dropped`, records
    `quarantined` (each with its field and reason), and the staged rows kept as they are
    (`unchanged`: external id -> record)."""

    def __init__(self, connector: Connector, day: date, timezone: ZoneInfo) -> None:
        self.connector, self.day, self.timezone = connector, day, timezone
        self.quarantined: list[QuarantinedRecord] = []
        self.unchanged: dict[str, Any] = {}
        self.kept: list[Occurrence[Any]] = []
        self.dropped: list[Occurrence[Any]] = []
        self.mapped = 0
        self._parsed: list[Occurrence[Any]] = []

    def map_changed(self, records: list[Any], staged: dict[str, str]) -> None:
        """Map the records whose content is not staged yet, then settle repeated ids."""
        self.unchanged, fresh = _split_by_staged_content(records, staged)
        for record in fresh:
            self._map(record)
        # An id the ERP repeats is resolved over all of its occurrences
        # (docs/erp-wire-formats.md#repeated-ids-troco-lines): its staged occurrence, if any, goes
        # back into the group.
        regrouped = [
            self.unchanged.pop(external_id)
            for external_id in {o.sale.external_id for o in self._parsed} & self.unchanged.keys()
        ]
        for record in regrouped:
            self._map(record)
        self.mapped = len(fresh) + len(regrouped)
        self._resolve_repeated_ids()

    def _map(self, record: Any) -> None:
        connector = self.connector
        try:
            sale = connector.map_record(record, day=self.day, timezone=self.timezone)
        except RecordRejected as rejection:
            self._quarantine(record, rejection.field, rejection.reason)
            return
        except Exception as error:  # a mapper bug on one record must not stop the day
            self._quarantine(
                record,
                WHOLE_RECORD,
                f"the {connector.integration_type} mapper failed on this record: "
                f"{type(error).__name__}: {shown(str(error))}",
            )
            return
        problem = unstorable(sale)
        if problem is not None:
            self._quarantine(record, problem.field(connector.field_names), problem.reason)
        else:
            self._parsed.append(Occurrence(sale=sale, payload=record))

    def _resolve_repeated_ids(self) -> None:
        repeated = self.connector.resolve_repeated_ids(self._parsed)
        self.kept, self.dropped = repeated.kept, repeated.dropped
        for external_id, group in repeated.ambiguous.items():
            for occurrence in group:
                self._quarantine(
                    occurrence.payload,
                    "id",
                    f"id {external_id} repeated {len(group)} times and no occurrence is "
                    "identifiable as the real sale",
                )

    def _quarantine(self, record: Any, field_name: str, reason: str) -> None:
        self.quarantined.append(_quarantined(self.connector, record, field_name, reason))


def _lists_whole_day(
    connector: Connector, text: str, records: list[Any], quarantined: list[QuarantinedRecord]
) -> bool:
    """Whether a sale missing from this answer is missing at the ERP. A quarantined record
    without an id could be any sale: none can be missing. An answer listing nothing at all
    looks the same when the ERP's database is down as when a day's sales were all deleted, and
    the first is far likelier."""
    return (
        bool(records)
        and connector.answer_is_complete(text)
        and all(q.external_id for q in quarantined)
    )


def _split_by_staged_content(
    records: list[Any], staged: dict[str, str]
) -> tuple[dict[str, Any], list[Any]]:
    """(external id -> record whose exact content is staged, the records to map).

    Equal record hashes mean the mapping would produce the staged row again (a record's
    canonical sale is a function of the record, the day and the organization's timezone).
    A second record with the same staged content is a repeat, mapped with its group.
    """
    if not staged:
        return {}, records
    unchanged: dict[str, Any] = {}
    fresh: list[Any] = []
    for record in records:
        external_id = staged.get(record_hash(record))
        if external_id is None or external_id in unchanged:
            fresh.append(record)
        else:
            unchanged[external_id] = record
    return unchanged, fresh


def upsert_day_entities(engine: sa.Engine, org_id: str, day: date) -> EntityCounts | None:
    """The day's clients, sellers, partners and products from staging; None when they were
    already upserted from exactly the content staging holds (its marker says so): the same rows
    would be matched again to change nothing, ~0.2 s of every unchanged-content run of a
    1,000-sale day (a lookback tick), more for a larger one."""
    with collector_paused(), engine.begin() as conn:
        lock_organization(conn, org_id)
        if day_progress(conn, org_id, day).done(StepMarker.ENTITIES):
            return None
        counts = upsert_entities(conn, org_id, day)
        mark_done(conn, org_id, day, StepMarker.ENTITIES)
        return counts


def load_day_sales(engine: sa.Engine, org_id: str, day: date) -> SalesCounts:
    with collector_paused(), engine.begin() as conn:
        lock_organization(conn, org_id)
        extract_id = conn.scalar(
            sa.select(erp_staging_extracts.c.extracao_id).where(
                erp_staging_extracts.c.organizacao_id == org_id,
                erp_staging_extracts.c.data_referencia == day,
            )
        )
        counts = load_sales(conn, org_id, day, extract_id)
        mark_done(conn, org_id, day, StepMarker.SALES)
        return counts


def _integrated(org: Organization) -> Organization:
    if not org.integration_type:
        raise SyncError(f"organization {org.id} has no ERP integration configured")
    return org


def _quarantined(
    connector: Connector, record: Any, field_name: str, reason: str
) -> QuarantinedRecord:
    return QuarantinedRecord(
        external_id=_record_id(connector, record),
        field=storable_text(field_name)[:MAX_LABEL_LENGTH],
        reason=storable_text(reason)[:MAX_LABEL_LENGTH],
        record=record,
        record_hash=record_hash(record),
    )


def _record_id(connector: Connector, record: Any) -> str | None:
    """The record's id as its connector reads it: a label for the quarantine row (the record
    itself is kept whole), cut to what a key column holds."""
    try:
        external_id = connector.record_id(record)
    except Exception:
        # The contract says never raise; a record that breaks it is kept without an id, which
        # only makes the day's answer count as incomplete (no sale of it can vanish).
        log.exception("%s record_id failed on a quarantined record", connector.integration_type)
        return None
    if not isinstance(external_id, str):
        return None
    return storable_text(external_id.strip())[:MAX_KEY_LENGTH] or None


def _pending_ids(connector: Connector, text: str) -> list[str]:
    """`connector.pending_ids` of a stored extract; none for one that cannot be read (its
    reading error says why)."""
    try:
        return connector.pending_ids(text)
    except ErpPayloadError:
        return []


_INDEX = re.compile(r"\[\d+\]")


def _field_family(field_name: str | None) -> str:
    """`itens[3].qtde` -> `itens.qtde`: metadata keys that do not grow with the data."""
    if not field_name:
        return "registro"
    return ".".join(_INDEX.sub("", field_name).split(".")[:3])
