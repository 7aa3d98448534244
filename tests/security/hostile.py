"""A server under DYAD_AUTH=jwt for the limit tests: import the fixtures into a test module.

Three organisations share it, as in test_http_enforcement: maternity (MAT), health visiting (HV)
and perinatal mental health (PMH), whose writes are labelled restricted.
"""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from service.security.dev_keys import DevSigningKey
from tests.fhir_samples import FHIR_JSON

MAT, HV, PMH = "Organization/maternity-unit", "Organization/hv-team", "Organization/pmh-team"
ALL = "system/*.cruds"

Mint = Callable[..., str]


def jwt_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "auth": "jwt",
        "serve_dev_jwks": True,
        "dev_key_file": tmp_path / "dev-key.pem",
        "restricted_organizations": [PMH],
        "rate_limit_per_minute": 0,
        "audit_flush_seconds": 0.01,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return jwt_settings(database_url, tmp_path)


@pytest.fixture
def mint(settings: Settings) -> Mint:
    key = DevSigningKey.from_settings(settings)

    def make(scopes: str = ALL, org: str | None = HV, subject: str = "client-hv", **claims: Any) -> str:
        return key.mint(subject=subject, scopes=scopes, organization=org, extra_claims=claims or None)

    return make


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyad.test") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


def auth(token: str) -> dict[str, str]:
    return {**FHIR_JSON, "Authorization": f"Bearer {token}"}


async def put(client: httpx.AsyncClient, token: str, resource: dict[str, Any]) -> httpx.Response:
    return await client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=auth(token))
