"""A delivery worker in another process is woken by the commit, not by its (slow) safety poll."""

import pytest

from bench.notify_receiver import Receiver
from tests.fhir_samples import observation
from tests.notify.conftest import create, fast_settings, running, subscription


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_worker_elsewhere_delivers_on_commit_without_polling(database_url: str, receiver: Receiver) -> None:
    # Two apps, two pools: the writer's in-process poke cannot reach this worker, and its poll
    # would not come round for ten minutes. Only the commit's NOTIFY can wake it.
    worker_settings = fast_settings(database_url, notify_poll_interval_seconds=600)
    api_settings = fast_settings(database_url, notify_worker_enabled=False)
    async with running(worker_settings) as (worker_app, _), running(api_settings) as (_, client):
        wakeups = worker_app.state.notifications.wakeups
        assert wakeups is not None
        await wakeups.listening.wait()
        await create(client, subscription(receiver.url))
        obs = await create(client, observation())
        [got] = await receiver.wait_for(1, timeout=30)
    assert got.headers["content-location"].endswith(f"Observation/{obs['id']}/_history/1")
