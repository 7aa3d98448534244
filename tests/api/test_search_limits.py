"""Bounds on what one search may ask (issue 11 #10 and #12): numbers that would overflow the
databases, too many values or parameters, repeated includes. Each answers 4xx OperationOutcome."""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from service.app import create_app
from service.config import Settings
from service.search.query import MAX_INCLUDES, MAX_PARAMETERS, MAX_VALUES_PER_PARAMETER
from tests.fhir_samples import FHIR_JSON, infant, observation


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyad.test") as http:
            yield app, http


def _outcome(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, (response.status_code, response.text[:300])
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


REFUSED = [
    ("/fhir/Observation?_offset=99999999999999999999", 400),
    ("/fhir/Observation?_offset=9223372036854775808", 400),
    ("/fhir/Observation?_count=99999999999999999999", 400),
    ("/fhir/Observation/_history?_offset=99999999999999999999", 400),
    ("/fhir/Observation?code=" + ",".join(f"c{i}" for i in range(600)), 400),
    ("/fhir/Observation?date=" + ",".join("2020" for _ in range(600)), 400),
    ("/fhir/Observation?" + "&".join(f"code=c{i}" for i in range(600)), 400),
    ("/fhir/Observation?value-quantity=1e99999999999", 400),
    ("/fhir/Observation?value-quantity=1e999999", 400),
    ("/fhir/Observation?value-quantity=1e-999999", 400),
    ("/fhir/Observation?date=9999-12-31T23:59-14:00", 400),
    ("/fhir/Observation/x/_history/99999999999999999999", 404),
]


@pytest.mark.parametrize("url,status", REFUSED, ids=[u[:60] for u, _ in REFUSED])
async def test_oversized_numbers_and_lists_answer_4xx_not_500(
    served: tuple[FastAPI, httpx.AsyncClient], url: str, status: int
) -> None:
    _, client = served
    _outcome(await client.get(url), status)


async def test_the_bounds_themselves_are_allowed(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = served
    values = ",".join(f"c{i}" for i in range(MAX_VALUES_PER_PARAMETER))
    assert (await client.get(f"/fhir/Observation?code={values}")).status_code == 200
    many = "&".join(f"code=c{i}" for i in range(MAX_PARAMETERS))
    assert (await client.get(f"/fhir/Observation?{many}")).status_code == 200
    assert "at most" in _outcome(await client.get(f"/fhir/Observation?code={values},one-more"))
    assert "at most" in _outcome(await client.get(f"/fhir/Observation?{many}&code=one-more"))


async def test_post_search_is_bounded_the_same_way(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = served
    form = "&".join("_revinclude:iterate=Observation:subject" for _ in range(4000))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert "at most" in _outcome(await client.post("/fhir/Patient/_search", content=form, headers=headers))


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL statements the app runs while inside the block (background work included)."""
    seen: list[str] = []
    engine = app.state.fhir.db.read_engine.sync_engine

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def test_a_repeated_include_is_followed_once(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = served
    await client.put("/fhir/Patient/baby", json={**infant(), "id": "baby"}, headers=FHIR_JSON)
    await client.post("/fhir/Observation", json=observation("Patient/baby"), headers=FHIR_JSON)
    once = "/fhir/Patient?_revinclude:iterate=Observation:subject&_include:iterate=Observation:subject"
    await client.get(once)  # the first search on a connection may prepare more than the search
    with statements(app) as single:
        first = (await client.get(once)).json()
    repeated = "/fhir/Patient?" + "&".join(
        ["_revinclude:iterate=Observation:subject"] * 24 + ["_include:iterate=Observation:subject"] * 24
    )
    with statements(app) as repeats:
        second = (await client.get(repeated)).json()
    assert [e["resource"]["id"] for e in second["entry"]] == [e["resource"]["id"] for e in first["entry"]]
    assert len(second["entry"]) == 2
    follows = [s for s in single if "search_reference" in s]
    assert follows and [s for s in repeats if "search_reference" in s] == follows


async def test_distinct_includes_are_bounded(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = served
    includes = [
        f"_include=Observation:{p}"
        for p in (
            "subject",
            "performer",
            "focus",
            "encounter",
            "patient",
            "specimen",
            "device",
            "has-member",
            "derived-from",
            "part-of",
        )
    ]
    assert len(includes) == MAX_INCLUDES
    assert (await client.get("/fhir/Observation?" + "&".join(includes))).status_code == 200
    eleventh = "&".join(includes + ["_revinclude=Provenance:target"])
    assert f"at most {MAX_INCLUDES}" in _outcome(await client.get("/fhir/Observation?" + eleventh))
