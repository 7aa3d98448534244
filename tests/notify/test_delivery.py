"""Delivery to a real HTTP endpoint: payloads, headers, retries, status, order, restarts."""

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import insert

from bench.notify_receiver import Receiver
from service.notify.tables import DeliveryLaneRow
from service.store.database import Database
from tests.fhir_samples import observation
from tests.notify.conftest import create, events, eventually, fast_settings, running, subscription


async def test_fhir_json_payload_sends_the_resource_with_custom_headers(database_url: str, receiver: Receiver) -> None:
    async with running(fast_settings(database_url, base_url="https://dyad.example/fhir")) as (_, client):
        sub = await create(
            client, subscription(receiver.url, headers=["Authorization: Bearer s3cret", "X-Tenant: north"])
        )
        obs = await create(client, observation())
        [got] = await receiver.wait_for(1)
    assert got.method == "POST" and got.path == "/hook"
    assert got.headers["authorization"] == "Bearer s3cret"
    assert got.headers["x-tenant"] == "north"
    assert got.headers["content-type"] == "application/fhir+json"
    assert got.headers["x-dyad-subscription"] == f"Subscription/{sub['id']}"
    assert got.headers["x-dyad-interaction"] == "create"
    assert got.headers["content-location"] == f"https://dyad.example/fhir/Observation/{obs['id']}/_history/1"
    assert orjson.loads(got.body) == obs
    [event] = await events(database_url)
    assert got.headers["x-dyad-event-id"] == event.event_id
    assert (event.state, event.attempts, event.last_status) == ("delivered", 1, 200)


async def test_full_resource_content_code_sends_the_resource(database_url: str, receiver: Receiver) -> None:
    async with running(fast_settings(database_url)) as (_, client):
        await create(client, subscription(receiver.url, content="full-resource"))
        obs = await create(client, observation())
        [got] = await receiver.wait_for(1)
    assert orjson.loads(got.body) == obs


async def test_id_only_sends_no_body_but_names_the_resource_version(database_url: str, receiver: Receiver) -> None:
    async with running(fast_settings(database_url)) as (_, client):
        await create(client, subscription(receiver.url, content="id-only", headers=["X-Tenant: north"]))
        obs = await create(client, observation())
        [got] = await receiver.wait_for(1)
    assert got.body == b""
    assert "content-type" not in got.headers
    assert got.headers["content-location"] == f"Observation/{obs['id']}/_history/1"
    assert got.headers["x-tenant"] == "north"
    assert "x-dyad-event-id" in got.headers


async def test_no_payload_sends_an_empty_notification(database_url: str, receiver: Receiver) -> None:
    async with running(fast_settings(database_url)) as (_, client):
        await create(client, subscription(receiver.url, payload=None))
        await create(client, observation())
        [got] = await receiver.wait_for(1)
    assert got.body == b""
    assert "content-location" not in got.headers
    assert "x-dyad-event-id" in got.headers


async def test_delete_is_notified_without_a_body(database_url: str, receiver: Receiver) -> None:
    async with running(fast_settings(database_url)) as (_, client):
        await create(client, subscription(receiver.url))
        obs = await create(client, observation())
        await receiver.wait_for(1)
        await client.delete(f"/fhir/Observation/{obs['id']}")
        got = (await receiver.wait_for(2))[1]
    assert got.headers["x-dyad-interaction"] == "delete"
    assert got.headers["content-location"] == f"Observation/{obs['id']}/_history/2"
    assert got.body == b""


async def test_endpoint_down_is_retried_with_the_same_event_id_until_it_returns(
    database_url: str, receiver: Receiver
) -> None:
    await receiver.stop()
    async with running(fast_settings(database_url)) as (_, client):
        await create(client, subscription(receiver.url))
        await create(client, observation())

        async def tried_twice() -> bool:
            [event] = await events(database_url)
            return bool(event.attempts >= 2)

        await eventually(tried_twice)
        [pending] = await events(database_url)
        assert pending.state == "pending" and "ConnectError" in (pending.last_error or "")
        await receiver.start()
        [got] = await receiver.wait_for(1)
    assert got.headers["x-dyad-event-id"] == pending.event_id
    [event] = await events(database_url)
    assert event.state == "delivered" and event.attempts > pending.attempts


async def test_a_failing_endpoint_is_retried_with_the_same_event(database_url: str, receiver: Receiver) -> None:
    """How long each wait is, is the retry policy's (tests/notify/test_retry.py, on an injected
    clock); here the worker really comes back, again and again, with the one event."""
    receiver.status = 500
    settings = fast_settings(database_url, notify_initial_backoff_seconds=0.1, notify_max_backoff_seconds=0.4)
    async with running(settings) as (_, client):
        await create(client, subscription(receiver.url))
        await create(client, observation())
        await receiver.wait_for(5, timeout=15)
    assert len({r.headers["x-dyad-event-id"] for r in receiver.requests}) == 1


async def test_repeated_failures_set_status_error_and_a_success_sets_it_active(
    database_url: str, receiver: Receiver
) -> None:
    receiver.status = 500
    async with running(fast_settings(database_url)) as (_, client):
        sub = await create(client, subscription(receiver.url))
        await create(client, observation())

        async def status_is(expected: str) -> bool:
            current = (await client.get(f"/fhir/Subscription/{sub['id']}")).json()
            return bool(current["status"] == expected)

        await eventually(lambda: status_is("error"))
        in_error = (await client.get(f"/fhir/Subscription/{sub['id']}")).json()
        await create(client, observation())  # an errored subscription still queues: nothing is lost
        receiver.status = 200
        await eventually(lambda: status_is("active"))
        recovered = (await client.get(f"/fhir/Subscription/{sub['id']}")).json()
    assert in_error["error"].startswith("delivery failed") and "500" not in in_error["error"]  # no reason given
    assert "error" not in recovered
    delivered = [e for e in await events(database_url) if e.state == "delivered"]
    assert len(delivered) == 2


async def test_events_of_a_subscription_arrive_in_order_after_an_outage(database_url: str, receiver: Receiver) -> None:
    receiver.status = 503
    async with running(fast_settings(database_url)) as (_, client):
        await create(client, subscription(receiver.url, content="id-only"))
        written = [(await create(client, observation()))["id"] for _ in range(8)]
        await receiver.wait_for(3)
        receiver.status = 200
        await eventually(lambda: _delivered(database_url, 8))
    successes = [r for r in receiver.requests if r is not None]
    delivered_order = [r.headers["content-location"].split("/")[1] for r in successes][-8:]
    assert delivered_order == written
    # while the first was failing, no later event was tried
    failed_ids = {r.headers["x-dyad-event-id"] for r in receiver.requests[:3]}
    assert len(failed_ids) == 1


async def _delivered(database_url: str, count: int) -> bool:
    return len([e for e in await events(database_url) if e.state == "delivered"]) >= count


async def test_events_past_the_retry_horizon_are_kept_as_dead(database_url: str, receiver: Receiver) -> None:
    receiver.status = 500
    settings = fast_settings(database_url, notify_retry_horizon_seconds=0.3)
    async with running(settings) as (_, client):
        await create(client, subscription(receiver.url))
        await create(client, observation())

        async def dead() -> bool:
            return [e.state for e in await events(database_url)] == ["dead"]

        await eventually(dead)
        receiver.status = 200
        await create(client, observation())
        await eventually(lambda: _delivered(database_url, 1))
    first, second = await events(database_url)
    assert first.state == "dead" and first.attempts >= 1 and first.last_status == 500
    assert second.state == "delivered"


async def test_events_queued_before_a_restart_are_delivered_by_the_next_process(
    database_url: str, receiver: Receiver
) -> None:
    async with running(fast_settings(database_url, notify_worker_enabled=False)) as (_, client):
        await create(client, subscription(receiver.url))
        for _ in range(3):
            await create(client, observation())
    assert receiver.requests == []
    async with running(fast_settings(database_url)):
        got = await receiver.wait_for(3)
        await eventually(lambda: _delivered(database_url, 3))
    assert len({r.headers["x-dyad-event-id"] for r in got}) == 3


async def test_a_lane_left_claimed_by_a_dead_worker_is_reclaimed_when_its_lease_expires(
    database_url: str, receiver: Receiver
) -> None:
    async with running(fast_settings(database_url, notify_worker_enabled=False)) as (_, client):
        sub = await create(client, subscription(receiver.url))
        await create(client, observation())
    lease_ends = datetime.now(UTC) + timedelta(seconds=2)
    db = Database(database_url)
    try:
        async with db.write() as conn:
            await conn.execute(
                insert(DeliveryLaneRow).values(
                    subscription_id=sub["id"],
                    claimed_by="crashed-worker",
                    claimed_until=lease_ends,
                    consecutive_failures=0,
                    error_reported=False,
                )
            )
    finally:
        await db.dispose()
    async with running(fast_settings(database_url)):
        [got] = await receiver.wait_for(1, timeout=10)
    assert got.at >= lease_ends.timestamp()


async def test_deleting_a_subscription_drops_its_pending_events_as_dead(database_url: str, receiver: Receiver) -> None:
    async with running(fast_settings(database_url, notify_worker_enabled=False)) as (_, client):
        sub = await create(client, subscription(receiver.url))
        await create(client, observation())
        await client.delete(f"/fhir/Subscription/{sub['id']}")
    async with running(fast_settings(database_url)):

        async def dropped() -> bool:
            return [e.state for e in await events(database_url)] == ["dead"]

        await eventually(dropped)
    [event] = await events(database_url)
    assert event.last_error == "subscription was deleted"
    assert receiver.requests == []


async def test_a_lane_drops_a_deleted_subscriptions_events_through_a_pool_of_one_connection(
    database_url: str, receiver: Receiver
) -> None:
    """The pool is fixed: a lane that held its read connection while it asked for a write one
    waited on itself (on PostgreSQL, where both come from one pool) and never dropped them."""
    async with running(fast_settings(database_url, notify_worker_enabled=False)) as (_, client):
        sub = await create(client, subscription(receiver.url))
        await create(client, observation())
        await client.delete(f"/fhir/Subscription/{sub['id']}")
    async with running(fast_settings(database_url, db_pool_size=1, db_pool_wait_seconds=0.5)):

        async def dropped() -> bool:
            return [e.state for e in await events(database_url)] == ["dead"]

        await eventually(dropped)
    assert receiver.requests == []


async def test_two_workers_on_one_database_never_deliver_an_event_twice(database_url: str, receiver: Receiver) -> None:
    settings = fast_settings(database_url, notify_batch_size=5)
    async with running(settings) as (_, first), running(settings) as (_, second):
        subs = [await create(first, subscription(receiver.url, content="id-only")) for _ in range(3)]
        clients = [first, second]
        for i in range(40):
            await create(clients[i % 2], observation())
        total = 40 * len(subs)
        await receiver.wait_for(total, timeout=30)

        async def all_delivered() -> bool:
            return len(await events(database_url, state="delivered")) == total

        await eventually(all_delivered)
    ids = [r.headers["x-dyad-event-id"] for r in receiver.requests]
    assert len(ids) == total
    assert len(set(ids)) == total
    for sub in subs:
        locations = [
            r.headers["content-location"]
            for r in receiver.requests
            if r.headers["x-dyad-subscription"] == f"Subscription/{sub['id']}"
        ]
        assert len(locations) == 40
