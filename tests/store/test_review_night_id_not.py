"""Hostile review (2026-11-30 night): `_id:not` was accepted and answered as `_id` (the very
resources it should leave out), and `_id:text` as an exact id. Found while probing the kept
statements: their shape of an `_id` filter ignored the modifier too.
"""

import pytest

from service.search.query import SearchError, parse_search
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.database import Database
from service.store.search import find_pks, run_search
from service.store.search_statements import SearchStatements
from tests.store.test_search_lists import _patients, registry, stored  # noqa: F401 (fixtures)

ALL_PATIENTS = sorted(p["id"] for p in _patients())


async def _ids(
    database: Database, registry: SearchRegistry, items: list[tuple[str, str]], statements: SearchStatements | None
) -> list[str]:
    async with database.read() as conn:
        query = parse_search(registry, "Patient", items, strict=True)
        page = await run_search(conn, registry, query, viewer=Viewer.system(), statements=statements)
        return sorted(m.res_id for m in page.matches)


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize("kept", [False, True])
async def test_id_not_leaves_out_the_ids_given(database: Database, registry: SearchRegistry, kept: bool) -> None:
    statements = SearchStatements() if kept else None
    # `_id` first, so that a kept statement of its shape would be there for `_id:not` to reuse.
    assert await _ids(database, registry, [("_id", "p1,p2")], statements) == ["p1", "p2"]
    expected = [i for i in ALL_PATIENTS if i not in ("p1", "p2")]
    assert await _ids(database, registry, [("_id:not", "p1,p2")], statements) == expected
    assert await _ids(database, registry, [("_id:not", "p3")], statements) == [i for i in ALL_PATIENTS if i != "p3"]
    assert await _ids(database, registry, [("_id", "p3")], statements) == ["p3"]


@pytest.mark.usefixtures("stored")
async def test_id_not_in_conditional_matching(database: Database, registry: SearchRegistry) -> None:
    async with database.read() as conn:
        pks = await find_pks(
            conn, parse_search(registry, "Patient", [("_id:not", "p1")], strict=True), viewer=Viewer.system()
        )
    assert len(pks) == len(ALL_PATIENTS) - 1


def test_id_text_is_refused_rather_than_answered_as_an_exact_id(registry: SearchRegistry) -> None:
    with pytest.raises(SearchError):
        parse_search(registry, "Patient", [("_id:text", "p1")], strict=True)
