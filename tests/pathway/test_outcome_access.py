"""Only the service a referral was sent to answers it: outcomes from other organisations stay off its Task."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from service.security.dev_keys import DevSigningKey
from tests.pathway.family import MIDWIFERY, PARENT_INFANT_TEAM, example, put, referral, search, seed_family
from tests.pathway.test_referrals import assessment_for_referral, outputs_of

FHIR = {"Content-Type": "application/fhir+json"}
Client = Callable[[str], httpx.AsyncClient]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        auth="jwt",
        serve_dev_jwks=True,
        dev_key_file=tmp_path / "dev-key.pem",
        rate_limit_per_minute=0,
    )


@pytest.fixture
async def as_org(settings: Settings) -> AsyncIterator[Client]:
    """A client of the real app that speaks for one organisation."""
    key = DevSigningKey.from_settings(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        clients: list[httpx.AsyncClient] = []

        def client_for(organisation: str) -> httpx.AsyncClient:
            token = key.mint(subject=f"client-{organisation}", scopes="system/*.cruds", organization=organisation)
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://dyad.test",
                headers={"Authorization": f"Bearer {token}"},
            )
            clients.append(http)
            return http

        yield client_for
        for http in clients:
            await http.aclose()


async def _referral_task(client: httpx.AsyncClient) -> dict:
    [task] = await search(client, "Task?focus=ServiceRequest/referral-ava-parent-infant-team")
    return task


async def test_an_assessment_written_by_the_receiving_team_answers_the_referral(as_org: Client) -> None:
    team = as_org(PARENT_INFANT_TEAM)
    await seed_family(team)
    await put(team, referral())
    created = await team.post("/fhir/Observation", json=assessment_for_referral(), headers=FHIR)
    assert created.status_code == 201, created.text
    assert outputs_of(await _referral_task(team)) == [
        ("relationship-assessment-result", f"Observation/{created.json()['id']}")
    ]


async def test_an_observation_another_organisation_bases_on_the_referral_does_not_answer_it(as_org: Client) -> None:
    team, midwives = as_org(PARENT_INFANT_TEAM), as_org(MIDWIFERY)
    await seed_family(team)
    await put(team, referral())
    written = await midwives.post("/fhir/Observation", json=assessment_for_referral("mw-1"), headers=FHIR)
    assert written.status_code == 201  # stored, as any Observation the midwives may write
    assert outputs_of(await _referral_task(team)) == []


async def test_a_team_whose_token_carries_its_ods_code_answers_the_referral_sent_to_its_organization(
    as_org: Client,
) -> None:
    team = as_org("RX1")  # the token names the team by ODS code; the referral names its Organization resource
    await seed_family(team)
    organisation = example("Organization-org-parent-infant-team")
    organisation["identifier"] = [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RX1"}]
    await put(team, organisation)
    await put(team, referral())
    created = await team.post("/fhir/Observation", json=assessment_for_referral(), headers=FHIR)
    assert created.status_code == 201, created.text
    assert outputs_of(await _referral_task(team)) == [
        ("relationship-assessment-result", f"Observation/{created.json()['id']}")
    ]
