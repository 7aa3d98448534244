"""Hostile review (2026-11-30 night): IN-lists and kept statements against the reference (each
alternative its own condition, statements built per search) for values the first tests did not
try: duplicates, case differences, versioned references, absolute URLs, empty values, 150 values,
modifiers, and viewers stating a purpose of use, on SQLite and PostgreSQL.
"""

from typing import Any

import pytest

from service.search.query import SearchError, parse_search
from service.search.registry import SearchRegistry
from service.store import search
from service.store.access import Viewer
from service.store.database import Database
from service.store.search import find_pks, run_search
from service.store.search_statements import SearchStatements
from tests.store.test_search_lists import (  # noqa: F401 (fixtures)
    DYAD,
    HV,
    LOCAL,
    NHS,
    PMH,
    PROFILE,
    _one_by_one,
    registry,
    stored,
)

VIEWERS = [
    Viewer.system(),
    Viewer(PMH),
    Viewer(HV),
    Viewer(None),
    Viewer(PMH, purpose="TREAT"),
    Viewer(HV, purpose="TREAT"),
    Viewer(None, purpose="TREAT"),
]

SEARCHES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Observation", [("subject", "Patient/p1,Patient/p1,p1,Patient/p2")]),
    ("Observation", [("subject", "Patient/p1/_history/1,Patient/p2/_history/9,Patient/p3")]),
    ("Observation", [("subject", "http://dyad.test/fhir/Patient/p1,Patient/p1,Patient/p4")]),
    ("Observation", [("subject", "patient/p1,Patient/P1,Patient/p1")]),
    ("Observation", [("subject", ",".join(f"Patient/p{n % 9}" for n in range(150)))]),
    ("Observation", [("subject:RelatedPerson", "p1,p2,p3,p1")]),
    ("Observation", [("code", "MOOD,mood,Mood,mood")]),
    ("Observation", [("code", f"{DYAD.upper()}|mood,{DYAD}|mood,{DYAD}|sleep,|mood,|MOOD")]),
    ("Observation", [("code", ",".join(f"c{n}" for n in range(150)) + ",mood,feeding")]),
    ("Observation", [("code", f"{DYAD}|mood,mood,{DYAD}|mood,|mood,mood")]),
    ("Observation", [("code", f"{DYAD}|,{DYAD}|mood,{DYAD}|sleep")]),
    ("Observation", [("code:not", f"mood,|sleep,{DYAD}|feeding,{DYAD}|concern,sleep")]),
    ("Observation", [("code:text", "mood,mood,MOOD")]),
    ("Observation", [("code", "mood,,sleep")]),
    ("Observation", [("status:not", "final,final"), ("subject", "p1,p2,p3")]),
    ("Patient", [("identifier", f"|bare0,|BARE0,|bare0,bare3,bare3,{NHS}|9001,{NHS}|9001")]),
    ("Patient", [("identifier", f"{LOCAL}|L1,{LOCAL}|l1,{LOCAL.upper()}|L1")]),
    ("Patient", [("_id", "p1,P1,p1,p2")]),
    ("Patient", [("name:exact", "Smith,Smith,SMITH")]),
    ("Observation", [("_profile", f"{PROFILE}/dyad-observation,{PROFILE}/dyad-observation,{PROFILE}/DYAD-concern")]),
    ("Observation", [("subject:Patient.identifier", f"{NHS}|9001,{NHS}|9001,|bare0,|bare3")]),
    ("Observation", [("subject:Patient._id", "p1,p2,p1")]),
    ("Patient", [("_has:Observation:subject:code:not", "mood,sleep")]),
    ("Patient", [("_has:Observation:subject:subject", "p1,Patient/p2,p1")]),
    ("Observation", [("code", "mood,sleep"), ("code", f"{DYAD}|mood,{DYAD}|feeding")]),
]


async def _results(database: Database, registry: SearchRegistry, statements: SearchStatements | None) -> list[Any]:
    out: list[Any] = []
    async with database.read() as conn:
        for viewer in VIEWERS:
            for res_type, items in SEARCHES:
                try:
                    query = parse_search(registry, res_type, items, strict=True)
                except SearchError as exc:
                    out.append((viewer, items, "refused", str(exc)))
                    continue
                page = await run_search(conn, registry, query, viewer=viewer, statements=statements)
                again = parse_search(registry, res_type, items, strict=True)
                pks = await find_pks(conn, again, viewer=viewer, statements=statements)
                out.append((viewer, items, page.total, sorted(m.res_id for m in page.matches), pks))
    return out


@pytest.mark.usefixtures("stored")
async def test_tricky_lists_find_what_or_chains_find(
    database: Database, registry: SearchRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = SearchStatements()
    fast = await _results(database, registry, kept)
    fast_again = await _results(database, registry, kept)
    with monkeypatch.context() as patch:
        patch.setattr(search, "_alternatives", _one_by_one)
        reference = await _results(database, registry, None)
    for got, again, expected in zip(fast, fast_again, reference, strict=True):
        assert got == expected
        assert again == expected
    assert sum(1 for r in reference if r[2] not in ("refused", 0)) >= len(reference) // 2
