"""The outbox: which changes queue which events, written in the writer's own transaction."""

import uuid

from sqlalchemy import func, select, text

from service.config import Settings
from service.notify.outbox import EVENT_NAMESPACE
from service.notify.tables import NotifyEventRow
from service.store.database import Database
from tests.fhir_samples import FHIR_JSON, observation, plain_observation
from tests.notify.conftest import CODE_SYSTEM, create, events, fast_settings, running, subscription
from tests.polling import until

ENDPOINT = "http://127.0.0.1:9/unused"  # the worker is off: nothing is sent in these tests


def quiet(database_url: str) -> Settings:
    return fast_settings(database_url, notify_worker_enabled=False)


async def test_created_subscription_is_activated_by_the_server(database_url: str) -> None:
    async with running(quiet(database_url)) as (_, client):
        created = await create(client, subscription(ENDPOINT))
        current = (await client.get(f"/fhir/Subscription/{created['id']}")).json()
    assert created["status"] == "requested"
    assert current["status"] == "active"
    assert current["meta"]["versionId"] == "2"


async def test_subscription_with_criteria_the_server_cannot_run_is_refused(database_url: str) -> None:
    async with running(quiet(database_url)) as (_, client):
        response = await client.post(
            "/fhir/Subscription", json=subscription(ENDPOINT, "Observation?no-such-param=1"), headers=FHIR_JSON
        )
        count = (await client.get("/fhir/Subscription", params={"_summary": "count"})).json()["total"]
    assert response.status_code == 422
    assert "no-such-param" in response.text
    assert count == 0


async def test_matching_change_queues_one_event_with_a_stable_id(database_url: str) -> None:
    criteria = f"Observation?code={CODE_SYSTEM}|relationship-assessment&subject=Patient/infant-1"
    async with running(quiet(database_url)) as (_, client):
        sub = await create(client, subscription(ENDPOINT, criteria))
        obs = await create(client, observation("Patient/infant-1"))
    [event] = await events(database_url)
    assert (event.subscription_id, event.res_type, event.res_id, event.version) == (
        sub["id"],
        "Observation",
        obs["id"],
        1,
    )
    assert (event.interaction, event.state, event.attempts) == ("create", "pending", 0)
    assert event.event_id == str(uuid.uuid5(EVENT_NAMESPACE, f"{sub['id']}|Observation/{obs['id']}/_history/1"))


async def test_changes_outside_the_criteria_queue_nothing(database_url: str) -> None:
    criteria = f"Observation?code={CODE_SYSTEM}|relationship-assessment&subject=Patient/infant-1"
    async with running(quiet(database_url)) as (_, client):
        await create(client, subscription(ENDPOINT, criteria))
        await create(client, observation("Patient/infant-2"))
        await create(client, plain_observation("Patient/infant-1"))
        await create(client, {"resourceType": "Patient", "name": [{"family": "Okafor"}]})
    assert await events(database_url) == []


async def test_update_queues_while_it_matches_and_stops_when_it_no_longer_does(database_url: str) -> None:
    async with running(quiet(database_url)) as (_, client):
        await create(client, subscription(ENDPOINT))
        obs = await create(client, observation())
        obs["status"] = "amended"
        assert (await client.put(f"/fhir/Observation/{obs['id']}", json=obs)).status_code == 200
        obs["code"] = plain_observation()["code"]  # no longer a relationship observation, nor matching
        del obs["category"]
        assert (await client.put(f"/fhir/Observation/{obs['id']}", json=obs)).status_code == 200
    queued = await events(database_url)
    assert [(e.version, e.interaction) for e in queued] == [(1, "create"), (2, "update")]


async def test_delete_queues_for_the_subscriptions_the_deleted_version_matched(database_url: str) -> None:
    async with running(quiet(database_url)) as (_, client):
        await create(client, subscription(ENDPOINT))
        matching = await create(client, observation())
        other = await create(client, plain_observation())
        assert (await client.delete(f"/fhir/Observation/{matching['id']}")).status_code in (200, 204)
        assert (await client.delete(f"/fhir/Observation/{other['id']}")).status_code in (200, 204)
        # The look at the deleted version was rolled back: the resource stays deleted and unfound.
        assert (await client.get(f"/fhir/Observation/{matching['id']}")).status_code == 410
        search = (await client.get("/fhir/Observation", params={"_id": matching["id"]})).json()
    queued = await events(database_url)
    assert [(e.res_id, e.version, e.interaction) for e in queued] == [
        (matching["id"], 1, "create"),
        (matching["id"], 2, "delete"),
    ]
    assert search.get("total", len(search.get("entry", []))) == 0


async def test_subscriptions_that_are_off_or_on_another_type_queue_nothing(database_url: str) -> None:
    async with running(quiet(database_url)) as (_, client):
        await create(client, subscription(ENDPOINT, status="off"))
        await create(client, subscription(ENDPOINT, "Patient?family=Okafor"))
        await create(client, observation())
    assert await events(database_url) == []


async def test_a_rolled_back_write_leaves_no_event(database_url: str) -> None:
    async with running(quiet(database_url)) as (app, client):
        await create(client, subscription(ENDPOINT))
        ctx = app.state.fhir
        try:
            async with ctx.db.write() as conn:
                await ctx.repository.create(conn, observation())
                inside = await conn.scalar(select(func.count()).select_from(NotifyEventRow))
                raise RuntimeError("the request failed after the write")
        except RuntimeError:
            pass
    assert inside == 1  # the listener did queue it, in the transaction that then rolled back
    assert await events(database_url) == []


async def test_a_failed_transaction_bundle_leaves_no_event(database_url: str) -> None:
    broken = {"resourceType": "Observation", "status": "final"}  # code is required
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": observation(), "request": {"method": "POST", "url": "Observation"}},
            {"resource": broken, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    async with running(quiet(database_url)) as (_, client):
        await create(client, subscription(ENDPOINT))
        response = await client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 400
    assert await events(database_url) == []


async def test_subscription_written_by_another_replica_is_seen_after_the_refresh(database_url: str) -> None:
    settings = quiet(database_url)
    async with running(settings) as (_, first), running(settings) as (_, second):
        await create(first, observation())  # loads first's cache: no subscriptions yet
        await create(second, subscription(ENDPOINT))

        async def announced_by_first() -> bool:
            await create(first, observation())
            return len(await events(database_url)) > 0

        await until(announced_by_first)
    assert len(await events(database_url)) == 1


async def test_outbox_claim_index_is_partial_on_pending_rows(database: Database) -> None:
    """The claim reads only pending rows; the index it uses must not grow with delivered history."""
    async with database.read() as conn:
        if database.is_postgres:
            definition = await conn.scalar(select(func.pg_get_indexdef(func.to_regclass("ix_notify_event_pending"))))
        else:
            definition = await conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'ix_notify_event_pending'"))
    assert definition is not None and "pending" in definition


async def test_subscriptions_sharing_criteria_each_get_their_event(database_url: str) -> None:
    async with running(quiet(database_url)) as (_, client):
        first = await create(client, subscription(ENDPOINT))
        second = await create(client, subscription(ENDPOINT))
        await create(client, observation())
    assert sorted(e.subscription_id for e in await events(database_url)) == sorted([first["id"], second["id"]])
