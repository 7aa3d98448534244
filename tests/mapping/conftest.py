"""The mapping catalog, loaded once from the real mappings/ and profiles/ folders."""

from pathlib import Path
from typing import Any

import pytest

from service.mapping import MappingCatalog, MappingSystem

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"
SYSTEMS = ["maternity", "health-visiting", "perinatal-mental-health"]


def all_samples() -> list[tuple[str, str]]:
    return [(s, p.stem) for s in SYSTEMS for p in sorted((MAPPINGS / s / "samples").glob("*.json"))]


@pytest.fixture(scope="session")
def catalog() -> MappingCatalog:
    return MappingCatalog.load(MAPPINGS)


def sample(system: MappingSystem, name: str) -> dict[str, Any]:
    return system.samples()[name]


def without(record: Any, fields: set[str]) -> Any:
    """The record with the named fields (anywhere in it) left out."""
    if isinstance(record, dict):
        return {k: without(v, fields) for k, v in record.items() if k not in fields}
    if isinstance(record, list):
        return [without(v, fields) for v in record]
    return record
