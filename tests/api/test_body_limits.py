"""The body limit holds while the body streams in (issue 11 #10): a declared Content-Length above
it is refused unread, a chunked body is cut off at the limit, on every route that takes a body."""

from collections.abc import AsyncIterator

import httpx
import pytest

from service.app import create_app
from service.config import Settings

LIMIT = 64 * 1024
CHUNK = 8 * 1024
SENT_IF_READ_WHOLE = 2 * 1024 * 1024

ROUTES = [
    ("POST", "/fhir/Observation", "application/fhir+json"),
    ("PUT", "/fhir/Observation/big", "application/fhir+json"),
    ("POST", "/fhir", "application/fhir+json"),
    ("POST", "/fhir/Observation/_search", "application/x-www-form-urlencoded"),
    ("POST", "/fhir/Observation/$validate", "application/fhir+json"),
    ("POST", "/fhir/$ingest?system=health-visiting", "application/json"),
]


@pytest.fixture
async def small_limit(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url, auth="off", rate_limit_per_minute=0, max_body_bytes=LIMIT))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyad.test") as http:
            yield http


class Stream:
    """A request body sent in chunks, counting how much of it the server pulled."""

    def __init__(self, total: int, *, form: bool) -> None:
        self.total, self.pulled = total, 0
        self.filler = b"a=" + b"x" * (CHUNK - 2) if form else b" " * CHUNK

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"{" if self.filler[:1] == b" " else b""
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield self.filler


def _too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "too-costly"


@pytest.mark.parametrize("method,url,media", ROUTES, ids=[r[1] for r in ROUTES])
async def test_a_chunked_body_is_cut_off_at_the_limit(
    small_limit: httpx.AsyncClient, method: str, url: str, media: str
) -> None:
    body = Stream(SENT_IF_READ_WHOLE, form=media.endswith("urlencoded"))
    response = await small_limit.request(method, url, content=body, headers={"Content-Type": media})
    _too_large(response)
    assert body.pulled <= LIMIT + CHUNK  # read up to the limit, never the rest


@pytest.mark.parametrize("method,url,media", ROUTES, ids=[r[1] for r in ROUTES])
async def test_a_declared_length_above_the_limit_is_refused_unread(
    small_limit: httpx.AsyncClient, method: str, url: str, media: str
) -> None:
    body = Stream(SENT_IF_READ_WHOLE, form=media.endswith("urlencoded"))
    headers = {"Content-Type": media, "Content-Length": str(SENT_IF_READ_WHOLE)}
    response = await small_limit.request(method, url, content=body, headers=headers)
    _too_large(response)
    assert body.pulled == 0


async def test_a_body_within_the_limit_is_read_as_before(small_limit: httpx.AsyncClient) -> None:
    form = "&".join(f"code=c{i}" for i in range(40))
    response = await small_limit.post(
        "/fhir/Observation/_search", content=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200
