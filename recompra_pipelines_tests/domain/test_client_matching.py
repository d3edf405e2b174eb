"""Client matching: external id, then phone, then name - never merging two phones on a name."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from recompra_pipelines.domain.client_matching import ClientEvidence, KnownClient, match_clients


def evidence(
    name: str, phone_base: str | None = None, external_id: str | None = None
) -> ClientEvidence:
    return ClientEvidence(
        name=name,
        name_key=name.lower(),
        phone=f"fmt:{phone_base}" if phone_base else None,
        phone_base=phone_base,
        phone_e164=f"+55{phone_base}" if phone_base else None,
        external_id=external_id,
    )


def known(name: str, phone_base: str | None = None, external_id: str | None = None) -> KnownClient:
    return KnownClient(
        id=uuid4(), name_key=name.lower(), phone_base=phone_base, external_id=external_id
    )


def test_external_id_wins_over_phone_and_name():
    by_id, by_phone = known("ana", external_id="c-1"), known("ana", phone_base="3499998888")
    result = match_clients(
        [("s1", evidence("ana", "3499998888", external_id="c-1"))], [by_id, by_phone]
    )
    assert result.existing == {"s1": by_id.id}


def test_phone_wins_over_a_differently_spelled_name():
    client = known("jose da silva", phone_base="3499998888")
    result = match_clients([("s1", evidence("josé silva", "3499998888"))], [client])
    assert result.existing == {"s1": client.id} and not result.new_clients


def test_same_name_with_a_different_phone_is_another_person():
    client = known("ana souza", phone_base="3499998888")
    result = match_clients([("s1", evidence("ana souza", "1198887777"))], [client])
    assert result.existing == {}
    assert [c.phone_base for c in result.new_clients] == ["1198887777"]


def test_name_only_record_matches_the_single_client_of_that_name():
    client = known("ana souza", phone_base="3499998888")
    result = match_clients([("s1", evidence("ana souza"))], [client])
    assert result.existing == {"s1": client.id}


def test_name_only_record_with_two_same_named_clients_goes_to_a_name_only_client():
    a, b = known("ana", phone_base="3499998888"), known("ana", phone_base="1198887777")
    result = match_clients([("s1", evidence("ana")), ("s2", evidence("ana"))], [a, b])
    assert result.existing == {}
    assert len(result.new_clients) == 1 and result.new_clients[0].phone_base is None
    assert result.created == {"s1": 0, "s2": 0}


def test_a_name_only_client_gains_the_phone_it_is_later_seen_with():
    client = known("ana")
    result = match_clients(
        [("s1", evidence("ana", "3499998888")), ("s2", evidence("ana", "3499998888"))], [client]
    )
    assert result.existing == {"s1": client.id, "s2": client.id}
    assert [(f.client_id, f.phone_base) for f in result.phone_fills] == [(client.id, "3499998888")]


def test_records_of_one_batch_share_new_clients():
    result = match_clients(
        [
            ("s1", evidence("bia")),
            ("s2", evidence("bia", "3499998888")),
            ("s3", evidence("BIA".lower())),
        ],
        [],
    )
    assert len(result.new_clients) == 1
    assert result.new_clients[0].phone_base == "3499998888"
    assert result.created == {"s1": 0, "s2": 0, "s3": 0}


names = st.sampled_from(["ana", "bia", "caio"])
phones = st.one_of(st.none(), st.sampled_from(["3499998888", "1198887777", "2133334444"]))
records = st.lists(st.tuples(names, phones), max_size=25)


@given(records, records)
def test_matching_invariants(existing_records, incoming):
    known_clients = []
    for (
        name,
        phone,
    ) in existing_records:  # a valid starting state: unique phones, one name-only per name
        if phone and any(k.phone_base == phone for k in known_clients):
            continue
        if not phone and any(k.name_key == name and k.phone_base is None for k in known_clients):
            continue
        known_clients.append(known(name, phone))
    batch = [(i, evidence(name, phone)) for i, (name, phone) in enumerate(incoming)]

    result = match_clients(batch, known_clients)

    assert set(result.existing) | set(result.created) == {key for key, _ in batch}
    assert not set(result.existing) & set(result.created)
    final_phone = {k.id: k.phone_base for k in known_clients}
    final_phone.update({f.client_id: f.phone_base for f in result.phone_fills})
    final_phone.update({("new", i): c.phone_base for i, c in enumerate(result.new_clients)})
    final_name = {k.id: k.name_key for k in known_clients} | {
        ("new", i): c.name_key for i, c in enumerate(result.new_clients)
    }
    assigned = {key: cid for key, cid in result.existing.items()} | {
        key: ("new", i) for key, i in result.created.items()
    }
    for key, record in batch:
        client = assigned[key]
        # A record with a phone always lands on the client holding that phone.
        if record.phone_base:
            assert final_phone[client] == record.phone_base
        else:
            assert final_name[client] == record.name_key
    # No two clients end up with the same phone; at most one name-only client per name.
    held = [p for p in final_phone.values() if p]
    assert len(held) == len(set(held))
    name_only = [final_name[c] for c, p in final_phone.items() if p is None]
    assert len(name_only) == len(set(name_only))


def test_a_stored_name_only_purchase_stays_with_its_client_as_namesakes_appear():
    # 10:00: "Cecília" without phone went to the only Cecília known, who has a phone.
    first = known("cecilia", phone_base="4371929441")
    morning = match_clients([("s1", evidence("cecilia"))], [first])
    assert morning.existing == {"s1": first.id}
    # 14:00: a second Cecília with another phone appears; the morning sale must not move.
    second = known("cecilia", phone_base="1198887777")
    later = match_clients(
        [("s1", evidence("cecilia")), ("s2", evidence("cecilia", "1198887777"))],
        [first, second],
        previous={"s1": first.id},
    )
    assert later.existing == {"s1": first.id, "s2": second.id} and not later.new_clients


def test_phones_are_matched_before_names_whatever_the_order_of_the_day():
    name_only = known("dora")
    result = match_clients(
        [("s1", evidence("dora")), ("s2", evidence("dora", "3499998888"))], [name_only]
    )
    # The phone arrives later in the day but is matched first: it completes the name-only client,
    # which remains the single Dora for the phone-less sale.
    assert result.existing == {"s1": name_only.id, "s2": name_only.id}
