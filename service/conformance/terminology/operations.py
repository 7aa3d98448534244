"""Dyad's terminology answers: $expand, $validate-code, $lookup, $translate.

Everything is computed when the package is loaded (code system indexes, every ValueSet's
members, ConceptMap indexes), so each call is a few dictionary reads.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.conformance.package import ProfilePackage
from service.conformance.terminology.codesystems import LocalCodeSystem, read_code_system
from service.conformance.terminology.conceptmaps import (
    IndexedConceptMap,
    Mapping,
    read_concept_map,
    translate_in,
)
from service.conformance.terminology.valuesets import Expansion, ExpansionError, Member, expand_all


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """result: True member, False not a member, None cannot be decided by Dyad."""

    result: bool | None
    message: str
    display: str | None = None  # the display Dyad holds for the code
    display_ok: bool = True


def _canonical(url: str) -> str:
    return url.split("|", 1)[0]


class Terminology:
    def __init__(self, package: ProfilePackage) -> None:
        self.systems: dict[str, LocalCodeSystem] = {
            r["url"]: read_code_system(r) for r in package.of_type("CodeSystem") if r.get("url")
        }
        valuesets = {r["url"]: r for r in package.of_type("ValueSet") if r.get("url")}
        self.expansions: dict[str, Expansion] = expand_all(valuesets, self.systems)
        self.concept_maps: dict[str, IndexedConceptMap] = {
            r["url"]: read_concept_map(r) for r in package.of_type("ConceptMap") if r.get("url")
        }

    # --- questions the validator asks -------------------------------------------------------

    def holds_system(self, system: str) -> bool:
        return system in self.systems

    def valueset(self, url: str) -> Expansion | None:
        return self.expansions.get(_canonical(url))

    # --- $expand --------------------------------------------------------------------------------

    def expand(
        self,
        valueset_url: str,
        filter: str | None = None,
        count: int | None = None,
        offset: int = 0,
    ) -> dict[str, Any]:
        expansion = self.valueset(valueset_url)
        if expansion is None:
            raise ExpansionError(f"ValueSet {valueset_url} is not known to Dyad")
        if not expansion.complete:
            raise ExpansionError(
                f"ValueSet {valueset_url} draws on code systems Dyad does not hold "
                f"({', '.join(sorted(expansion.unheld))}) and cannot be listed in full"
            )
        members = expansion.members
        if filter:
            needle = filter.lower()
            members = tuple(m for m in members if needle in m.code.lower() or needle in (m.display or "").lower())
        page = members[offset:] if count is None else members[offset : offset + count]
        parameters: list[dict[str, Any]] = [{"name": "offset", "valueInteger": offset}]
        if count is not None:
            parameters.append({"name": "count", "valueInteger": count})
        if filter:
            parameters.append({"name": "filter", "valueString": filter})
        result: dict[str, Any] = {
            "resourceType": "ValueSet",
            "url": expansion.url,
            "status": "active",
            "expansion": {
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "total": len(members),
                "offset": offset,
                "parameter": parameters,
                "contains": [_contains(m) for m in page],
            },
        }
        if expansion.version:
            result["version"] = expansion.version
        if expansion.name:
            result["name"] = expansion.name
        return result

    # --- $validate-code -------------------------------------------------------------------------

    def validate_code(
        self,
        valueset_url: str | None,
        system: str | None,
        code: str,
        display: str | None = None,
    ) -> CodeCheck:
        if valueset_url is None:
            return self._in_system(system, code, display)
        expansion = self.valueset(valueset_url)
        if expansion is None:
            return CodeCheck(None, f"ValueSet {valueset_url} is not known to Dyad, so {code} was not checked")
        if system is None:
            return self._bare_code(expansion, code)
        member = expansion.index.get((system, code))
        if member is None and system in expansion.open_systems:
            return CodeCheck(
                None,
                f"{system}|{code} was not checked: Dyad does not hold the code system {system}",
            )
        if member is None:
            if system not in expansion.systems:
                return CodeCheck(False, f"{expansion.url} has no codes from {system}")
            return CodeCheck(False, f"{system}|{code} is not in {expansion.url}")
        if member.abstract:
            return CodeCheck(False, f"{system}|{code} is a grouping concept and is not to be used in data")
        if system in expansion.unheld:
            # Listed by the ValueSet, so a member; the code itself can't be looked up here.
            return CodeCheck(True, f"{system}|{code} is listed in {expansion.url}", member.display)
        return self._with_display(True, f"{system}|{code} is in {expansion.url}", system, member, display)

    def _bare_code(self, expansion: Expansion, code: str) -> CodeCheck:
        found = [m for m in expansion.by_code.get(code, ()) if not m.abstract]
        if found:
            return CodeCheck(True, f"{code} is in {expansion.url}", found[0].display)
        if expansion.open_systems:
            return CodeCheck(None, f"{code} was not checked: {expansion.url} draws on systems Dyad does not hold")
        return CodeCheck(False, f"{code} is not in {expansion.url}")

    def _in_system(self, system: str | None, code: str, display: str | None) -> CodeCheck:
        if system is None:
            return CodeCheck(None, "no system given, so the code was not checked")
        held = self.systems.get(system)
        if held is None:
            return CodeCheck(None, f"{system}|{code} was not checked: Dyad does not hold the code system {system}")
        concept = held.get(code)
        if concept is None:
            return CodeCheck(False, f"{code} is not a code in {system}")
        member = Member(system, concept.code, concept.display, concept.abstract)
        return self._with_display(True, f"{code} is a code in {system}", system, member, display)

    def _with_display(self, result: bool, message: str, system: str, member: Member, display: str | None) -> CodeCheck:
        held = self.systems.get(system)
        concept = held.get(member.code) if held else None
        known = concept.displays() if concept else ({member.display} if member.display else set())
        if display is None or not known or display in known:
            return CodeCheck(result, message, member.display)
        return CodeCheck(
            result,
            f"{message}, but its display is '{member.display}', not '{display}'",
            member.display,
            display_ok=False,
        )

    # --- $lookup --------------------------------------------------------------------------------

    def lookup(self, system: str, code: str) -> dict[str, Any] | None:
        held = self.systems.get(system)
        concept = held.get(code) if held else None
        if held is None or concept is None:
            return None
        properties = [dict(p) for p in concept.properties]
        properties += [{"code": "parent", "valueCode": p} for p in concept.parents]
        properties += [{"code": "child", "valueCode": c} for c in concept.children]
        return {
            "name": held.name or held.url,
            "version": held.version,
            "system": held.url,
            "code": concept.code,
            "display": concept.display,
            "definition": concept.definition,
            "abstract": concept.abstract,
            "designation": [dict(d) for d in concept.designations],
            "property": properties,
        }

    # --- $translate -----------------------------------------------------------------------------

    def translate(
        self,
        system: str,
        code: str,
        *,
        conceptmap_url: str | None = None,
        source: str | None = None,
        target: str | None = None,
        target_system: str | None = None,
    ) -> list[dict[str, Any]]:
        maps = self._maps_for(conceptmap_url, source, target)
        matches: list[dict[str, Any]] = []
        for cmap in maps:
            for mapping in translate_in(cmap, system, code):
                if target_system and mapping.system != target_system:
                    continue
                matches.append(_match(mapping))
        return matches

    def _maps_for(self, url: str | None, source: str | None, target: str | None) -> list[IndexedConceptMap]:
        if url is not None:
            found = self.concept_maps.get(_canonical(url))
            return [found] if found else []
        return [
            m
            for m in self.concept_maps.values()
            if (source is None or m.source == source) and (target is None or m.target == target)
        ]


def _contains(member: Member) -> dict[str, Any]:
    entry: dict[str, Any] = {"system": member.system, "code": member.code}
    if member.version:
        entry["version"] = member.version
    if member.display:
        entry["display"] = member.display
    if member.abstract:
        entry["abstract"] = True
    return entry


def _match(mapping: Mapping) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if mapping.system:
        concept["system"] = mapping.system
    if mapping.code:
        concept["code"] = mapping.code
    if mapping.display:
        concept["display"] = mapping.display
    match: dict[str, Any] = {"equivalence": mapping.equivalence, "concept": concept, "source": mapping.map_url}
    if mapping.comment:
        match["comment"] = mapping.comment
    return match
