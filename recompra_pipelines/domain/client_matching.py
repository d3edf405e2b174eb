"""Which CRM client a sale belongs to (docs/architecture.md#client-matching).

Order of evidence: the ERP's own client id, then the phone's `telefone_base`, then the
normalized name. The old code matched on the name first, so two people with the same name
became one client; here two records whose valid phones differ are never merged on the name.

A record without a phone matches a client known by that name only; failing that, the single
client with that name (who gave a phone before); with several such clients it cannot tell who
bought, so the purchase goes to the name-only client (created if needed) instead of a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from uuid import UUID

K = TypeVar("K")


@dataclass(frozen=True)
class ClientEvidence:
    """What one sale says about its buyer (already normalized)."""

    name: str
    name_key: str
    phone: str | None = None
    phone_base: str | None = None
    phone_e164: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class KnownClient:
    id: UUID
    name_key: str
    phone_base: str | None
    external_id: str | None


@dataclass
class NewClient:
    name: str
    name_key: str
    phone: str | None
    phone_base: str | None
    phone_e164: str | None
    external_id: str | None


@dataclass(frozen=True)
class PhoneFill:
    """An existing client known by name only, now seen with a phone."""

    client_id: UUID
    phone: str
    phone_base: str
    phone_e164: str | None


@dataclass
class MatchResult(Generic[K]):
    # sale key -> an existing client's id, or the index of a client in `new_clients`
    existing: dict[K, UUID] = field(default_factory=dict)
    created: dict[K, int] = field(default_factory=dict)
    new_clients: list[NewClient] = field(default_factory=list)
    phone_fills: list[PhoneFill] = field(default_factory=list)


Ref = tuple[str, UUID | int]  # ("known", id) or ("new", index)


def match_clients(
    records: Iterable[tuple[K, ClientEvidence]],
    known: Iterable[KnownClient],
    previous: Mapping[K, UUID] | None = None,
) -> MatchResult[K]:
    """Assign every record to a known client or to a new one.

    Records with an ERP id or a phone go first, then the name-only ones, so that what a name
    can match does not depend on where in the day a phone shows up. `previous` holds the client
    each sale is already stored with: a name-only record keeps it while the names still
    agree, so re-runs and later ticks of the same day never move a purchase between clients
    as more same-named clients become known.
    """
    result: MatchResult[K] = MatchResult()
    clients = _ClientIndex(known)
    previous = previous or {}
    by_evidence = sorted(
        records, key=lambda record: not (record[1].external_id or record[1].phone_base)
    )
    for key, evidence in by_evidence:
        ref = clients.find(evidence, previous.get(key))
        if ref is None:
            ref = _new_client(result, evidence)
            clients.add(ref, evidence.name_key, evidence.phone_base, evidence.external_id)
        else:
            _learn(result, clients, ref, evidence)
        kind, target = ref
        if kind == "known":
            result.existing[key] = target  # type: ignore[assignment]
        else:
            result.created[key] = target  # type: ignore[assignment]
    return result


class _ClientIndex:
    """The clients matching can land on (known ones, then those it creates) by ERP id, phone
    and name key; the first client indexed under an id or a phone keeps it."""

    def __init__(self, known: Iterable[KnownClient]) -> None:
        self.by_external: dict[str, Ref] = {}
        self.by_phone: dict[str, Ref] = {}
        self.by_name: dict[str, list[tuple[Ref, bool]]] = {}  # name key -> [(ref, has phone)]
        self.name_of_known: dict[UUID, str] = {}
        for client in known:
            self.name_of_known[client.id] = client.name_key
            self.add(("known", client.id), client.name_key, client.phone_base, client.external_id)

    def add(self, ref: Ref, name_key: str, phone_base: str | None, external_id: str | None) -> None:
        if external_id:
            self.by_external.setdefault(external_id, ref)
        if phone_base:
            self.by_phone.setdefault(phone_base, ref)
        entries = self.by_name.setdefault(name_key, [])
        entries[:] = [entry for entry in entries if entry[0] != ref]
        entries.append((ref, bool(phone_base)))

    def find(self, evidence: ClientEvidence, kept: UUID | None) -> Ref | None:
        """The ERP id's client, else the phone's, else the client the sale is stored with when
        the names agree (name-only evidence), else the name's (see `_by_name`)."""
        return (
            (evidence.external_id and self.by_external.get(evidence.external_id))
            or (evidence.phone_base and self.by_phone.get(evidence.phone_base))
            or (
                ("known", kept)
                if not evidence.phone_base
                and kept
                and self.name_of_known.get(kept) == evidence.name_key
                else None
            )
            or _by_name(
                self.by_name.get(evidence.name_key, []), has_phone=bool(evidence.phone_base)
            )
        )


def _new_client(result: MatchResult, evidence: ClientEvidence) -> Ref:
    result.new_clients.append(
        NewClient(
            name=evidence.name,
            name_key=evidence.name_key,
            phone=evidence.phone,
            phone_base=evidence.phone_base,
            phone_e164=evidence.phone_e164,
            external_id=evidence.external_id,
        )
    )
    return ("new", len(result.new_clients) - 1)


def _learn(result: MatchResult, clients: _ClientIndex, ref: Ref, evidence: ClientEvidence) -> None:
    """What a matched record adds to its client: a phone it lacked, an ERP id it lacked."""
    if evidence.phone_base and evidence.phone_base not in clients.by_phone:
        # Matched on the name by a client without a phone: it now has one.
        _give_phone(result, ref, evidence)
        clients.add(ref, evidence.name_key, evidence.phone_base, None)
    if evidence.external_id and evidence.external_id not in clients.by_external:
        clients.add(ref, evidence.name_key, None, evidence.external_id)


def _by_name(entries: list[tuple[Ref, bool]], *, has_phone: bool) -> Ref | None:
    name_only = [ref for ref, with_phone in entries if not with_phone]
    if name_only:
        return name_only[0]
    if has_phone:
        # A different phone under the same name is a different person.
        return None
    with_phone = [ref for ref, phone in entries if phone]
    return with_phone[0] if len(with_phone) == 1 else None


def _give_phone(result: MatchResult, ref: Ref, evidence: ClientEvidence) -> None:
    kind, target = ref
    if kind == "known":
        result.phone_fills.append(
            PhoneFill(
                client_id=target,  # type: ignore[arg-type]
                phone=evidence.phone or "",
                phone_base=evidence.phone_base or "",
                phone_e164=evidence.phone_e164,
            )
        )
    else:
        client = result.new_clients[target]  # type: ignore[index]
        client.phone = evidence.phone
        client.phone_base = evidence.phone_base
        client.phone_e164 = evidence.phone_e164
