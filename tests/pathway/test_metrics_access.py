"""$pathway-metrics for an organisation that may not see the referrals behind the figures.

The searches behind the report run with the caller's access, and so must the clock figures (median
days referral → assessment, breaches), which come from the clock table. Over a long
period that is an aggregate (docs/security.md, "Aggregates"); cut into weeks with `interval=week`
and one `organization`, a cell holds one referral, and another organisation reads the exact wait
of a restricted (perinatal) referral it cannot read itself.
"""

from pathlib import Path
from typing import Any

import pytest

from service.config import Settings
from tests.pathway.family import HEALTH_VISITING, MIDWIFERY, PARENT_INFANT_TEAM, referral, search, seed_family
from tests.pathway.test_metrics_over_time import group, reports
from tests.pathway.test_outcome_access import Client, as_org, jwt_settings  # noqa: F401 (as_org: fixture)
from tests.pathway.test_referrals import move

FHIR = {"Content-Type": "application/fhir+json"}
WAIT = "median-days-referral-to-assessment"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """test_outcome_access's jwt app, with what the parent–infant team writes restricted."""
    return jwt_settings(database_url, tmp_path).model_copy(update={"restricted_organizations": [PARENT_INFANT_TEAM]})


def _waits(weeks: list[dict[str, Any]]) -> list[Any]:
    return [group(r, WAIT).get("measureScore") for r in weeks]


async def test_weekly_waits_of_a_restricted_referral_are_not_shown_to_another_organisation(as_org: Client) -> None:
    await seed_family(as_org(MIDWIFERY))
    team = as_org(PARENT_INFANT_TEAM)
    # Restricted: created by POST (a restricted record takes no client-assigned id).
    sent = {k: v for k, v in referral().items() if k != "id"}
    made = await team.post("/fhir/ServiceRequest", json=sent, headers=FHIR)
    assert made.status_code == 201, made.text
    assert any(s["code"] == "R" for s in made.json()["meta"]["security"])
    [task] = await search(team, f"Task?focus=ServiceRequest/{made.json()['id']}")
    task = (await move(team, task, "received", "received")).json()
    task = (await move(team, task, "accepted", "accepted")).json()
    await move(team, task, "in-progress", "assessed", lastModified="2026-09-26T09:00:00Z")
    query = f"periodStart=2026-09-01&periodEnd=2026-10-06&interval=week&organization={PARENT_INFANT_TEAM}"

    # The team sees its own referral's wait in the week the clock started...
    assert [w is not None for w in _waits(await reports(team, query))].count(True) == 1
    # ...health visiting cannot read the referral,
    hv = as_org(HEALTH_VISITING)
    assert (await hv.get(f"/fhir/ServiceRequest/{made.json()['id']}")).status_code == 404
    # and so must not read its wait either.
    assert _waits(await reports(hv, query)) == [None] * 5
