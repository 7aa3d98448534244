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
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
Client = Callable[[str], httpx.AsyncClient]


def jwt_settings(database_url: str, tmp_path: Path) -> Settings:
    """The real app under DYAD_AUTH=jwt, trusting the development key that `as_org` signs with."""
    return Settings(
        database_url=database_url,
        auth="jwt",
        serve_dev_jwks=True,
        dev_key_file=tmp_path / "dev-key.pem",
        rate_limit_per_minute=0,
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return jwt_settings(database_url, tmp_path)


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


def _team_by_ods_code() -> dict:
    """The parent-infant team as an NHS body: its Organization is keyed by its ODS code, RX1."""
    organisation = example("Organization-org-parent-infant-team")
    organisation["id"] = "RX1"
    organisation["identifier"] = [{"system": ODS, "value": "RX1"}]
    return organisation


def _referral_to_rx1() -> dict:
    resource = referral()
    resource["performer"] = [{"reference": "Organization/RX1"}]
    return resource


async def test_a_team_whose_token_carries_its_ods_code_answers_the_referral_sent_to_its_organization(
    as_org: Client,
) -> None:
    team = as_org("RX1")  # the token names the team by ODS code; the referral names its Organization resource
    await seed_family(team)
    await put(team, _team_by_ods_code())
    await put(team, _referral_to_rx1())
    created = await team.post("/fhir/Observation", json=assessment_for_referral(), headers=FHIR)
    assert created.status_code == 201, created.text
    assert outputs_of(await _referral_task(team)) == [
        ("relationship-assessment-result", f"Observation/{created.json()['id']}")
    ]


async def test_an_organisation_cannot_pass_for_another_by_putting_its_ods_code_on_its_own_organization(
    as_org: Client,
) -> None:
    """Before Organizations were keyed by ODS code, an organisation's own Organization carrying
    the team's ODS code made its writes count as the team's: it answered the team's referral."""
    team, impostor = as_org("RX1"), as_org("Organization/impostor-clinic")
    await seed_family(team)
    await put(team, _team_by_ods_code())
    await put(team, _referral_to_rx1())
    claimed = {"resourceType": "Organization", "id": "impostor-clinic", "identifier": [{"system": ODS, "value": "RX1"}]}
    refused = await impostor.put("/fhir/Organization/impostor-clinic", json=claimed, headers=FHIR)
    assert refused.status_code == 422, refused.text
    assert "Organization/RX1" in refused.text
    written = await impostor.post("/fhir/Observation", json=assessment_for_referral("imp-1"), headers=FHIR)
    assert written.status_code == 201
    assert outputs_of(await _referral_task(team)) == []
    # Nor may it rewrite what RX1 is (its type decides, e.g., whether RX1's writes are restricted).
    retyped = _team_by_ods_code()
    retyped.pop("type")
    assert (await impostor.put("/fhir/Organization/RX1", json=retyped, headers=FHIR)).status_code == 403
    assert (await impostor.delete("/fhir/Organization/RX1")).status_code == 403
    assert (await team.put("/fhir/Organization/RX1", json=retyped, headers=FHIR)).status_code == 200
