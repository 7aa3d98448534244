"""How the console is served (the real app over ASGI, on each database): pages and files only,
under a strict Content-Security-Policy, HTML never cached; and the development token, which only
a jwt server trusting its development key gives, and only to a caller on the same machine."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from service.console.routes import CSP
from service.security.dev_keys import DevSigningKey
from tests.security.hostile import MAT, jwt_settings


async def _client(settings: Settings, client_host: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
        # A loopback name, as a developer's browser on the same machine asks for it.
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield http


async def test_console_opens_on_the_validate_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/console")
    assert response.status_code == 302
    assert response.headers["location"] == "/console/validate"


@pytest.mark.parametrize("path", ["/console/validate", "/console/guide", "/console/signin"])
async def test_pages_are_html_never_cached_and_allow_only_their_own_scripts(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in response.text  # every script is a file, as the policy demands


async def test_a_family_page_is_the_same_file_whatever_the_patient(client: httpx.AsyncClient) -> None:
    response = await client.get("/console/family/%3Cscript%3Ealert(1)")
    # Whether or not the family page exists yet, the id never reaches the HTML.
    assert "alert(1)" not in response.text


async def test_assets_are_revalidated_by_etag(client: httpx.AsyncClient) -> None:
    first = await client.get("/console/static/console.js")
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    assert first.headers["cache-control"] == "no-cache"
    again = await client.get("/console/static/console.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/..%2F..%2Fconfig.py",
        "/console/static/routes.py",
        "/console/static/.hidden.js",
        "/console/static/missing.js",
    ],
)
async def test_nothing_but_the_console_files_is_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("path", ["/console/nowhere", "/console/routes", "/console/%3Cscript%3E"])
async def test_an_unknown_page_is_a_not_found_page_that_echoes_nothing(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CSP
    assert "Page not found" in response.text
    assert "nowhere" not in response.text and "<script" not in response.text


async def test_the_session_says_whether_a_token_is_needed(client: httpx.AsyncClient) -> None:
    response = await client.get("/console/session.json")
    assert response.json() == {"auth": "off", "devToken": False, "orgClaim": "organization"}
    assert response.headers["cache-control"] == "no-store"


async def test_no_development_token_when_auth_is_off(client: httpx.AsyncClient) -> None:
    response = await client.post("/console/dev-token", json={"organization": MAT})
    assert response.status_code == 404


async def test_a_development_key_server_gives_a_loopback_caller_a_token_it_then_accepts(
    database_url: str, tmp_path: Path
) -> None:
    async for http in _client(jwt_settings(database_url, tmp_path)):
        session = (await http.get("/console/session.json")).json()
        assert session == {"auth": "jwt", "devToken": True, "orgClaim": "organization"}
        assert (await http.get("/fhir/Patient")).status_code == 401
        response = await http.post("/console/dev-token", json={"organization": MAT})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        token = response.json()["access_token"]
        searched = await http.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"})
        assert searched.status_code == 200
        refused = await http.post("/console/dev-token", json={"organization": "  "})
        assert refused.status_code == 400


async def test_no_development_token_for_a_caller_on_another_machine(database_url: str, tmp_path: Path) -> None:
    async for http in _client(jwt_settings(database_url, tmp_path), client_host="203.0.113.9"):
        response = await http.post("/console/dev-token", json={"organization": MAT})
        assert response.status_code == 404
        assert "access_token" not in response.text


async def test_no_development_token_when_the_server_trusts_another_issuer(database_url: str, tmp_path: Path) -> None:
    jwks = tmp_path / "issuer-jwks.json"
    jwks.write_text(json.dumps(DevSigningKey.load_or_create(tmp_path / "issuer.pem").jwks()))
    settings = jwt_settings(
        database_url,
        tmp_path,
        jwt_jwks_file=jwks,
        jwt_issuer="https://issuer.example",
        jwt_audience="https://dyad.example",
    )
    async for http in _client(settings):
        assert (await http.get("/console/session.json")).json()["devToken"] is False
        response = await http.post("/console/dev-token", json={"organization": MAT})
        assert response.status_code == 404


async def test_no_development_token_for_a_page_of_another_site_rebound_to_loopback(
    database_url: str, tmp_path: Path
) -> None:
    """DNS rebinding: a site the developer visits resolves its own name to 127.0.0.1, so its script
    reaches the server from loopback, same-origin with itself, and could read a token for any
    organisation. The Host it sends is its own name, not a loopback one."""
    async for http in _client(jwt_settings(database_url, tmp_path)):
        for host in ("rebound.example", "rebound.example:8000", "127.0.0.1.evil.example"):
            response = await http.post("/console/dev-token", json={"organization": MAT}, headers={"Host": host})
            assert response.status_code == 404, host
            assert "access_token" not in response.text
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
            allowed = await http.post("/console/dev-token", json={"organization": MAT}, headers={"Host": host})
            assert allowed.status_code == 200, (host, allowed.text)
