"""A transaction's creates are written as one batch, with every guarantee of one-by-one creates."""

from typing import Any

import httpx
from sqlalchemy import insert, select

from service.store.database import Database
from service.store.repository import conditional_key
from service.store.tables import ConditionalKeyRow, ResourceRow
from tests.api.test_transaction import bundle, post
from tests.fhir_samples import FHIR_JSON, NHS, infant, observation, store_infants
from tests.notify.conftest import create, events, fast_settings, running, subscription

ENDPOINT = "http://127.0.0.1:9/unused"  # the notify worker is off: events stay in the outbox
RESTRICTED_SOURCE = "https://w3id.org/dyad/fhir/source/perinatal-mental-health"


async def _count(client: httpx.AsyncClient, res_type: str, **params: str) -> int:
    response = await client.get(f"/fhir/{res_type}", params={"_summary": "count", **params})
    total: int = response.json()["total"]
    return total


def _statuses(response: httpx.Response) -> list[str]:
    return [e["response"]["status"] for e in response.json()["entry"]]


def _ids(response: httpx.Response) -> list[str]:
    return [e["response"]["location"].split("/")[1] for e in response.json()["entry"]]


async def test_a_listener_refusing_one_batched_create_leaves_nothing_and_names_that_entry(database_url: str) -> None:
    unusable = subscription(ENDPOINT, "Observation?no-such-param=1")  # the outbox listener refuses it (422)
    entries = [post(observation()), post(observation()), post(unusable), post(observation())]
    async with running(fast_settings(database_url, notify_worker_enabled=False)) as (_, client):
        before = [await _count(client, t) for t in ("Observation", "Subscription", "Provenance")]
        response = await client.post("/fhir", json=bundle("transaction", *entries), headers=FHIR_JSON)
        counts = [await _count(client, t) for t in ("Observation", "Subscription", "Provenance")]
    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["expression"][0].startswith("Bundle.entry[2]")
    assert before[:2] == [0, 0]
    assert counts == before


async def test_every_batched_create_is_announced_to_the_listeners(database_url: str) -> None:
    async with running(fast_settings(database_url, notify_worker_enabled=False)) as (_, client):
        await create(client, subscription(ENDPOINT))
        entries = [post(observation(f"Patient/infant-{1 + n % 2}")) for n in range(20)]
        response = await client.post("/fhir", json=bundle("transaction", *entries), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    queued = await events(database_url)
    assert sorted(e.res_id for e in queued) == sorted(_ids(response))
    assert {(e.version, e.interaction) for e in queued} == {(1, "create")}


async def test_conditional_creates_in_one_batch_create_once_and_match_on_resend(client: httpx.AsyncClient) -> None:
    existing = (await client.post("/fhir/Patient", json=infant("9000000009"), headers=FHIR_JSON)).json()
    sent = bundle(
        "transaction",
        post(infant("9000000017"), ifNoneExist=f"identifier={NHS}|9000000017"),
        post(infant("9000000025"), ifNoneExist=f"identifier={NHS}|9000000025"),
        post(infant("9000000009"), ifNoneExist=f"identifier={NHS}|9000000009"),
        post(observation(f"Patient/{existing['id']}")),
    )
    first = await client.post("/fhir", json=sent, headers=FHIR_JSON)
    again = await client.post("/fhir", json=sent, headers=FHIR_JSON)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert _statuses(first) == ["201 Created", "201 Created", "200 OK", "201 Created"]
    assert _statuses(again) == ["200 OK", "200 OK", "200 OK", "201 Created"]
    assert _ids(first)[2] == existing["id"]
    assert _ids(again)[:3] == _ids(first)[:3]
    assert await _count(client, "Patient") == 3


async def test_two_creates_under_one_conditional_key_in_a_transaction_make_one_resource(
    client: httpx.AsyncClient,
) -> None:
    criteria = f"identifier={NHS}|9000000017"
    sent = bundle(
        "transaction",
        post(infant("9000000017"), ifNoneExist=criteria),
        post(infant("9000000017"), ifNoneExist=criteria),
    )
    response = await client.post("/fhir", json=sent, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    assert _statuses(response) == ["201 Created", "200 OK"]
    assert await _count(client, "Patient") == 1


async def test_batched_creates_reference_each_other_and_are_searchable_at_once(client: httpx.AsyncClient) -> None:
    urns = [f"urn:uuid:00000000-0000-4000-8000-00000000000{n}" for n in range(3)]
    babies = [
        post(infant(nhs, family), urn)
        for urn, nhs, family in zip(urns, ["9000000009", "9000000017", "9000000025"], ["A", "B", "C"], strict=True)
    ]
    observations = [post(observation(subject=urn)) for urn in urns]
    response = await client.post("/fhir", json=bundle("transaction", *observations, *babies), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    ids = _ids(response)
    for obs_id, baby_id in zip(ids[:3], ids[3:], strict=True):
        assert (await client.get(f"/fhir/Observation/{obs_id}")).json()["subject"]["reference"] == f"Patient/{baby_id}"
        assert await _count(client, "Observation", subject=f"Patient/{baby_id}") == 1
    assert await _count(client, "Provenance") == 1  # one Provenance names the whole Bundle


async def test_batched_creates_keep_their_versions_and_access_labels(client: httpx.AsyncClient) -> None:
    await store_infants(client)
    restricted: dict[str, Any] = {**observation(), "meta": {"source": RESTRICTED_SOURCE}}
    response = await client.post(
        "/fhir", json=bundle("transaction", post(restricted), post(observation())), headers=FHIR_JSON
    )
    assert response.status_code == 200, response.text
    stored = [(await client.get(f"/fhir/Observation/{i}")).json() for i in _ids(response)]
    assert [s["meta"]["versionId"] for s in stored] == ["1", "1"]
    assert [c["code"] for c in stored[0]["meta"]["security"]] == ["R"]
    assert "security" not in stored[1]["meta"]


async def test_a_subscription_created_in_the_same_transaction_hears_of_the_creates_after_it(database_url: str) -> None:
    entries = [post(subscription(ENDPOINT)), *(post(observation(f"Patient/infant-{n}")) for n in (2, 1, 2))]
    async with running(fast_settings(database_url, notify_worker_enabled=False)) as (_, client):
        await create(client, subscription(ENDPOINT, "Observation?subject=Patient/infant-1"))
        response = await client.post("/fhir", json=bundle("transaction", *entries), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    ids = _ids(response)
    queued = await events(database_url)
    by_subscription: dict[str, list[str]] = {}
    for event in queued:
        by_subscription.setdefault(event.subscription_id, []).append(event.res_id)
    assert sorted(by_subscription.pop(ids[0])) == sorted(ids[1:])
    assert list(by_subscription.values()) == [[ids[2]]]


async def test_a_conditional_key_taken_meanwhile_sends_the_batch_the_one_by_one_way_and_leaves_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    """As if a concurrent conditional create held the key without its resource matching yet."""
    holder = (await client.post("/fhir/Patient", json=infant("9000000025"), headers=FHIR_JSON)).json()
    criteria = [("identifier", f"{NHS}|9000000017")]
    async with database.write() as conn:
        pk = await conn.scalar(select(ResourceRow.pk).where(ResourceRow.res_id == holder["id"]))
        await conn.execute(
            insert(ConditionalKeyRow).values(
                res_type="Patient", key_hash=conditional_key("Patient", criteria), resource_pk=pk
            )
        )
    sent = bundle(
        "transaction",
        post(observation(f"Patient/{holder['id']}")),
        post(infant("9000000017"), ifNoneExist=f"identifier={NHS}|9000000017"),
    )
    response = await client.post("/fhir", json=sent, headers=FHIR_JSON)
    assert response.status_code == 409, response.text
    assert response.json()["issue"][0]["expression"][0].startswith("Bundle.entry[1]")
    assert await _count(client, "Observation") == 0
    assert await _count(client, "Patient") == 1
