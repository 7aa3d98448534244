"""A record that carries its own referral Task: one referral, one Task, whatever the entry path."""

from datetime import UTC, datetime

import httpx

from service.pathway.breaches import raise_breaches
from service.pathway.clock_store import clocks_of
from tests.api.test_mapping_operations import sample
from tests.pathway.conftest import RunningApp
from tests.pathway.family import example, put, referral, search, seed_family

TASKS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes|referral"


async def test_ingesting_a_record_with_its_own_referral_task_makes_one_task_for_the_referral(
    client: httpx.AsyncClient,
) -> None:
    record = sample("maternity", "postnatal-visit-concern-noah.json")
    response = await client.post(
        "/fhir/$ingest", params={"system": "maternity"}, json=record, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    [referral] = await search(
        client, "ServiceRequest?identifier=https://w3id.org/dyad/fhir/Id/RBX/referral|REF-RBX-77310"
    )
    tasks = await search(client, f"Task?focus=ServiceRequest/{referral['id']}&code={TASKS}")
    assert len(tasks) == 1, [t.get("identifier") for t in tasks]
    again = await client.post(
        "/fhir/$ingest", params={"system": "maternity"}, json=record, headers={"Content-Type": "application/json"}
    )
    assert again.status_code == 200, again.text
    assert len(await search(client, f"Task?focus=ServiceRequest/{referral['id']}&code={TASKS}")) == 1


def own_referral_task() -> dict:
    """The source system's own Task for the Clarke referral, sent after the referral (REST)."""
    task = example("Task-referral-task-ava-parent-infant-team")
    task.pop("id", None)
    task["identifier"] = [{"system": "https://w3id.org/dyad/fhir/Id/RTF/referral-task", "value": "T-1"}]
    task["status"] = "requested"
    task.pop("businessStatus", None)
    task.pop("output", None)
    return task


async def test_a_source_systems_own_task_replaces_the_rule_task_and_its_clock(running: RunningApp) -> None:
    client = running.http
    await seed_family(client)
    await put(client, referral())
    [raised] = await search(client, f"Task?focus=ServiceRequest/referral-ava-parent-infant-team&code={TASKS}")
    own = await client.post("/fhir/Task", json=own_referral_task(), headers={"Content-Type": "application/fhir+json"})
    assert own.status_code == 201, own.text
    tasks = await search(client, f"Task?focus=ServiceRequest/referral-ava-parent-infant-team&code={TASKS}")
    assert [t["id"] for t in tasks] == [own.json()["id"]]
    assert (await client.get(f"/fhir/Task/{raised['id']}")).status_code == 410
    ctx = running.fhir
    async with ctx.db.read() as conn:
        assert not (await clocks_of(conn, raised["id"]))["assessment"].running  # not retried every round
    # Long after the 2-week standard: only the referral's one Task breaches, once.
    assert await raise_breaches(ctx.db, ctx.repository, ctx.registry, datetime(2027, 6, 1, tzinfo=UTC)) == 1
