"""A record that carries its own referral Task: one referral, one Task, whatever the entry path."""

from datetime import datetime, timezone

import httpx

from service.pathway.breaches import raise_breaches
from tests.api.test_mapping_operations import sample
from tests.pathway.conftest import RunningApp
from tests.pathway.family import search

TASKS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes|referral"


async def test_ingesting_a_record_with_its_own_referral_task_makes_one_task_for_the_referral(client: httpx.AsyncClient) -> None:
    record = sample("maternity", "postnatal-visit-concern-noah.json")
    response = await client.post("/fhir/$ingest", params={"system": "maternity"}, json=record,
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    [referral] = await search(client, "ServiceRequest?identifier=https://w3id.org/dyad/fhir/Id/RBX/referral|REF-RBX-77310")
    tasks = await search(client, f"Task?focus=ServiceRequest/{referral['id']}&code={TASKS}")
    assert len(tasks) == 1, [t.get("identifier") for t in tasks]
    again = await client.post("/fhir/$ingest", params={"system": "maternity"}, json=record,
                              headers={"Content-Type": "application/json"})
    assert again.status_code == 200, again.text
    assert len(await search(client, f"Task?focus=ServiceRequest/{referral['id']}&code={TASKS}")) == 1


async def test_the_replaced_rule_task_leaves_no_running_clock_to_breach(running: RunningApp) -> None:
    record = sample("maternity", "postnatal-visit-concern-noah.json")
    response = await running.http.post("/fhir/$ingest", params={"system": "maternity"}, json=record,
                                       headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    ctx = running.fhir
    # Long after the 2-week standard: only the referral's one Task breaches, once.
    assert await raise_breaches(ctx.db, ctx.repository, ctx.registry, datetime(2027, 6, 1, tzinfo=timezone.utc)) == 1
