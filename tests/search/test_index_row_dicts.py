"""The index writer's row dicts (built by zipping each table's fields) against _asdict()."""

from typing import Any

from service.search.extract import IndexRows, index_rows
from service.search.registry import SearchRegistry
from service.store.search import _row_dicts
from tests.search.samples import ALL


def _reference(resource_pk: int, res_type: str, entries: list[Any]) -> list[dict[str, Any]]:
    return [{"resource_pk": resource_pk, "res_type": res_type, **e._asdict()} for e in entries]


def test_row_dicts_match_asdict_for_every_table(registry: SearchRegistry) -> None:
    tables: set[str] = set()
    for pk, resource in enumerate(ALL, start=1):
        rows = index_rows(registry, resource["resourceType"], resource)
        for name in IndexRows.__slots__:
            entries = getattr(rows, name)
            assert _row_dicts(pk, resource["resourceType"], entries) == _reference(
                pk, resource["resourceType"], entries
            )
            if entries:
                tables.add(name)
    assert tables >= {"token", "string", "date", "reference", "uri"}
    assert _row_dicts(1, "Patient", iter([])) == []
