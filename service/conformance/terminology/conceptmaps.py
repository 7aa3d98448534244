"""ConceptMaps indexed by source code, for $translate."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Mapping:
    equivalence: str
    system: str | None
    code: str | None
    display: str | None
    comment: str | None
    map_url: str


@dataclass(slots=True)
class IndexedConceptMap:
    url: str
    source: str | None  # source ValueSet canonical
    target: str | None  # target ValueSet canonical
    by_source: dict[tuple[str, str], tuple[Mapping, ...]]
    # group-level `unmapped` rules by source system: (mode, code, target system)
    unmapped: dict[str, tuple[str, str | None, str | None]]
    target_systems: frozenset[str]


def read_concept_map(resource: dict[str, Any]) -> IndexedConceptMap:
    url = resource["url"]
    by_source: dict[tuple[str, str], list[Mapping]] = {}
    unmapped: dict[str, tuple[str, str | None, str | None]] = {}
    targets: set[str] = set()
    for group in resource.get("group") or []:
        source_system, target_system = group.get("source", ""), group.get("target")
        if target_system:
            targets.add(target_system)
        for element in group.get("element") or []:
            key = (source_system, element.get("code", ""))
            found = by_source.setdefault(key, [])
            for target in element.get("target") or []:
                found.append(
                    Mapping(
                        target.get("equivalence", "equivalent"),
                        target_system,
                        target.get("code"),
                        target.get("display"),
                        target.get("comment"),
                        url,
                    )
                )
        rule = group.get("unmapped")
        if rule:
            unmapped[source_system] = (rule.get("mode", ""), rule.get("code"), target_system)
    return IndexedConceptMap(
        url=url,
        source=resource.get("sourceCanonical") or resource.get("sourceUri"),
        target=resource.get("targetCanonical") or resource.get("targetUri"),
        by_source={k: tuple(v) for k, v in by_source.items()},
        unmapped=unmapped,
        target_systems=frozenset(targets),
    )


def translate_in(cmap: IndexedConceptMap, system: str, code: str) -> list[Mapping]:
    found = list(cmap.by_source.get((system, code), ()))
    if found or system not in cmap.unmapped:
        return found
    mode, fixed_code, target_system = cmap.unmapped[system]
    if mode == "provided":
        return [Mapping("equal", target_system or system, code, None, "unmapped: provided", cmap.url)]
    if mode == "fixed" and fixed_code:
        return [Mapping("equivalent", target_system, fixed_code, None, "unmapped: fixed", cmap.url)]
    return []
