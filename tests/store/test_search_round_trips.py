"""A search page that is not full proves its total and is one statement; a full page, or an empty
one past an offset, counts its matches in a second."""

from typing import Any

import pytest
from sqlalchemy import event

from service.config import PROJECT_ROOT
from service.conformance.package import load_package
from service.search.query import parse_search
from service.search.registry import SearchRegistry
from service.store import search as search_module
from service.store.access import Viewer
from service.store.database import Database
from service.store.repository import NewResource, ResourceRepository
from service.store.search import SearchIndexer, SearchPage, run_search


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry.from_definitions(list(load_package(PROJECT_ROOT / "profiles").search_parameters()))


@pytest.fixture
async def stored(database: Database, registry: SearchRegistry) -> None:
    """Seven Observations of Patient/a, three of Patient/b."""
    items = [
        NewResource(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": f"Patient/{'a' if i < 7 else 'b'}"},
            }
        )
        for i in range(10)
    ]
    async with database.write() as conn:
        await ResourceRepository(SearchIndexer(registry)).create_many(conn, items, announce=False)


async def _search_counting(
    database: Database, registry: SearchRegistry, items: list[tuple[str, str]]
) -> tuple[SearchPage, int]:
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    query = parse_search(registry, "Observation", items, strict=True)
    engine = database.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with database.read() as conn:
            page = await run_search(conn, registry, query, viewer=Viewer.system())
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return page, len(selects)


@pytest.mark.usefixtures("stored")
async def test_a_page_holding_the_last_match_is_its_own_total_in_one_statement(
    database: Database, registry: SearchRegistry
) -> None:
    page, statements = await _search_counting(database, registry, [("subject", "Patient/a")])
    assert (page.total, len(page.matches), statements) == (7, 7, 1)
    page, statements = await _search_counting(
        database, registry, [("subject", "Patient/a"), ("_count", "3"), ("_offset", "6")]
    )
    assert (page.total, len(page.matches), statements) == (7, 1, 1)


@pytest.mark.usefixtures("stored")
async def test_a_full_page_counts_its_matches_in_a_second_statement(
    database: Database, registry: SearchRegistry
) -> None:
    page, statements = await _search_counting(database, registry, [("subject", "Patient/a"), ("_count", "3")])
    assert (page.total, len(page.matches), statements) == (7, 3, 2)


@pytest.mark.usefixtures("stored")
async def test_a_page_exactly_full_with_nothing_after_it_is_its_own_total(
    database: Database, registry: SearchRegistry
) -> None:
    page, statements = await _search_counting(database, registry, [("subject", "Patient/a"), ("_count", "7")])
    assert (page.total, len(page.matches), statements) == (7, 7, 1)  # the page read one row more: none


@pytest.mark.usefixtures("stored")
async def test_a_count_that_saw_deletions_after_the_page_never_contradicts_it(
    database: Database, registry: SearchRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count runs in a statement of its own: matches deleted in between must not leave a total
    below what the page showed, which would drop its `next` link."""

    async def after_deletions(*_: Any) -> int:
        return 1

    monkeypatch.setattr(search_module, "count_matches", after_deletions)
    page, _ = await _search_counting(database, registry, [("subject", "Patient/a"), ("_count", "3")])
    assert (len(page.matches), page.total) == (3, 4)  # three shown, at least one more after them
    page, _ = await _search_counting(database, registry, [("subject", "Patient/a"), ("_count", "3"), ("_offset", "3")])
    assert (len(page.matches), page.total) == (3, 7)


@pytest.mark.usefixtures("stored")
async def test_no_statement_counts_what_the_page_already_holds(database: Database, registry: SearchRegistry) -> None:
    counts: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        counts.extend(["count"] if "count(" in statement.lower() else [])

    engine = database.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        page, _ = await _search_counting(database, registry, [("subject", "Patient/b")])
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert (page.total, len(page.matches), counts) == (3, 3, [])


@pytest.mark.usefixtures("stored")
async def test_a_page_past_the_end_still_counts_every_match(database: Database, registry: SearchRegistry) -> None:
    page, statements = await _search_counting(
        database, registry, [("subject", "Patient/a"), ("_count", "3"), ("_offset", "9")]
    )
    assert (page.total, page.matches, statements) == (7, [], 2)


@pytest.mark.usefixtures("stored")
async def test_no_match_totals_zero_in_one_statement(database: Database, registry: SearchRegistry) -> None:
    page, statements = await _search_counting(database, registry, [("subject", "Patient/nobody")])
    assert (page.total, page.matches, statements) == (0, [], 1)


@pytest.mark.usefixtures("stored")
async def test_total_none_and_count_zero_run_nothing_but_what_is_asked(
    database: Database, registry: SearchRegistry
) -> None:
    page, statements = await _search_counting(database, registry, [("subject", "Patient/b"), ("_total", "none")])
    assert (page.total, len(page.matches), statements) == (None, 3, 1)
    page, statements = await _search_counting(database, registry, [("subject", "Patient/b"), ("_count", "0")])
    assert (page.total, page.matches, statements) == (3, [], 1)
