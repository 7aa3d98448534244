"""Subscriptions cannot reach internal addresses or frame their own requests (issue 11 #9):
refused on write (422) and again at delivery, after resolving the host; and Subscription.error
does not tell a closed port from an endpoint that answered. Under DYAD_AUTH=jwt for writes."""

import ipaddress
from pathlib import Path

import httpx
import pytest

from bench.notify_receiver import Receiver
from service.config import Settings
from service.notify import endpoints
from tests.fhir_samples import observation
from tests.notify.conftest import create, events, eventually, fast_settings, running, subscription
from tests.security.hostile import Mint, app_client, auth, jwt_settings, mint  # noqa: F401


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Production's default: no private or loopback endpoints."""
    return jwt_settings(database_url, tmp_path, notify_allowed_hosts=[], notify_allow_private=False)


async def _refused(client: httpx.AsyncClient, token: str, resource: dict[str, object]) -> str:
    response = await client.post("/fhir/Subscription", json=resource, headers=auth(token))
    assert response.status_code == 422, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    stored = await client.get("/fhir/Subscription", headers=auth(token))
    assert stored.json()["total"] == 0
    return str(outcome["issue"][0]["diagnostics"])


NEVER = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://0.0.0.0:8080/hook",
    "http://[::]/hook",
    "http://224.0.0.1/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[::ffff:169.254.169.254]/hook",
]


@pytest.mark.parametrize("endpoint", NEVER)
async def test_link_local_metadata_and_unroutable_endpoints_are_refused(
    app_client: httpx.AsyncClient, mint: Mint, endpoint: str
) -> None:
    await _refused(app_client, mint(), subscription(endpoint))


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook", "http://10.0.0.5/hook"]
)
async def test_private_and_loopback_endpoints_are_refused_by_default(
    app_client: httpx.AsyncClient, mint: Mint, endpoint: str
) -> None:
    assert "DYAD_NOTIFY_ALLOWED_HOSTS" in await _refused(app_client, mint(), subscription(endpoint))


@pytest.mark.parametrize(
    "header",
    [
        "Host: intranet",
        "Transfer-Encoding: chunked",
        "Content-Length: 0",
        "Connection: keep-alive",
        "X-Dyad-Event-Id: forged",
    ],
)
async def test_framing_and_hop_by_hop_headers_are_refused(
    app_client: httpx.AsyncClient, mint: Mint, header: str
) -> None:
    resource = subscription("https://ehr.example.nhs.uk/hook", headers=[header])
    assert "may not set" in await _refused(app_client, mint(), resource)


async def test_a_public_endpoint_with_an_authorization_header_is_accepted(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    resource = subscription("https://ehr.example.nhs.uk/hook", headers=["Authorization: Bearer abc"])
    response = await app_client.post("/fhir/Subscription", json=resource, headers=auth(mint()))
    assert response.status_code == 201, response.text


async def test_an_allowed_host_may_be_on_loopback(
    database_url: str, tmp_path: Path, receiver: Receiver, mint: Mint
) -> None:
    settings = jwt_settings(database_url, tmp_path, notify_allowed_hosts=["127.0.0.1"])
    async with running(settings) as (_, client):
        response = await client.post("/fhir/Subscription", json=subscription(receiver.url), headers=auth(mint()))
        assert response.status_code == 201, response.text


async def test_delivery_checks_the_address_the_name_resolves_to_now(
    database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that passed on write and later resolves to a forbidden address gets nothing."""
    resolved = {"hooks.example.org": "169.254.169.254"}

    async def fake_dns(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.ip_address(resolved[host])] if host in resolved else await real(host, port)

    real = endpoints.resolve
    monkeypatch.setattr(endpoints, "resolve", fake_dns)
    endpoint = f"http://hooks.example.org:{receiver.port}/hook"
    settings = fast_settings(database_url, notify_allowed_hosts=["hooks.example.org"])
    async with running(settings) as (_, client):
        await create(client, subscription(endpoint))
        await create(client, observation())

        async def refused_twice() -> bool:
            found = await events(database_url)
            return bool(found) and found[0].attempts >= 2

        await eventually(refused_twice)
        assert receiver.requests == []
        resolved["hooks.example.org"] = "127.0.0.1"  # an allowed host on loopback: delivered
        await receiver.wait_for(1)


async def test_subscription_error_does_not_tell_a_closed_port_from_an_answer(database_url: str) -> None:
    answering, closed = Receiver(), Receiver()
    await answering.start()
    answering.status = 404
    try:
        async with running(fast_settings(database_url)) as (_, client):
            one = await create(client, subscription(answering.url))
            other = await create(client, subscription(closed.url))  # nothing listens there
            await create(client, observation())

            async def both_in_error() -> bool:
                states = [(await client.get(f"/fhir/Subscription/{s['id']}")).json() for s in (one, other)]
                return all(s["status"] == "error" for s in states)

            await eventually(both_in_error)
            errors = [(await client.get(f"/fhir/Subscription/{s['id']}")).json()["error"] for s in (one, other)]
    finally:
        await answering.stop()
    assert errors[0] == errors[1]
    assert "404" not in errors[0] and "Connect" not in errors[1]
