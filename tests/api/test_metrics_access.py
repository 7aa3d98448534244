"""Who may read /metrics (issue 11 #13): under DYAD_AUTH=jwt only a scraper holding
DYAD_METRICS_TOKEN, nobody when it is unset; and the metrics name no patient or resource."""

from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from service.security.dev_keys import DevSigningKey
from tests.fhir_samples import infant
from tests.security.hostile import MAT, auth, jwt_settings

SCRAPER = "a-long-random-scraper-token"


async def _metrics(settings: Settings, headers: dict[str, str]) -> httpx.Response:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyad.test") as http:
            return await http.get("/metrics", headers=headers)


@pytest.mark.parametrize(
    "token,headers",
    [
        pytest.param(None, {}, id="no-token-configured"),
        pytest.param(None, {"Authorization": "Bearer "}, id="no-token-configured-empty-bearer"),
        pytest.param(SCRAPER, {}, id="no-credentials"),
        pytest.param(SCRAPER, {"Authorization": "Bearer wrong"}, id="wrong-token"),
        pytest.param(SCRAPER, {"Authorization": f"Basic {SCRAPER}"}, id="wrong-scheme"),
    ],
)
async def test_metrics_are_refused_under_jwt_without_the_scraper_token(
    database_url: str, tmp_path: Path, token: str | None, headers: dict[str, str]
) -> None:
    response = await _metrics(jwt_settings(database_url, tmp_path, metrics_token=token), headers)
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "dyad_requests_total" not in response.text


async def test_a_clinical_token_does_not_open_the_metrics(database_url: str, tmp_path: Path) -> None:
    settings = jwt_settings(database_url, tmp_path, metrics_token=SCRAPER)
    clinical = DevSigningKey.from_settings(settings).mint(subject="c", scopes="system/*.cruds", organization=MAT)
    assert (await _metrics(settings, auth(clinical))).status_code == 401


async def test_the_scraper_reads_metrics_that_name_no_patient(database_url: str, tmp_path: Path) -> None:
    settings = jwt_settings(database_url, tmp_path, metrics_token=SCRAPER)
    writer = DevSigningKey.from_settings(settings).mint(subject="c", scopes="system/*.cruds", organization=MAT)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyad.test") as http:
            baby = {**infant(nhs_number="9434765919", family="Okafor"), "id": "baby-okafor"}
            assert (await http.put("/fhir/Patient/baby-okafor", json=baby, headers=auth(writer))).status_code == 201
            await http.get(
                "/fhir/Patient", params={"identifier": "9434765919", "family": "Okafor"}, headers=auth(writer)
            )
            response = await http.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER}"})
    assert response.status_code == 200
    assert 'dyad_requests_total{interaction="update",resource_type="Patient",status="2xx"} 1.0' in response.text
    for identifying in ("baby-okafor", "9434765919", "Okafor", "hv-team", "maternity-unit"):
        assert identifying not in response.text
