"""Local codes <-> Dyad codes, only through the ConceptMaps in a system's folder.

The lookups themselves are `service.conformance.terminology.Terminology.translate` (the same
$translate the REST API answers), fed with the mapping folder's ConceptMaps. This module adds
what a mapping needs on top: which field a code came from, the local code system of that field,
and the rule for reading a code back out of a CodeableConcept that may already carry the
system's own coding.
"""

from dataclasses import dataclass
from typing import Any

from service.conformance.package import ProfilePackage
from service.conformance.terminology import Terminology

# ConceptMap equivalences that say "no target" (FHIR R4 ConceptMapEquivalence).
NO_TARGET = frozenset({"unmatched", "disjoint"})
# Equivalences that keep the meaning exactly; anything else is held approximately.
EXACT = frozenset({"equal", "equivalent"})


@dataclass(frozen=True, slots=True)
class CodedField:
    """A source field whose values are local codes (declared in mapping.json `codedFields`)."""

    field: str
    system: str  # the URI Dyad uses for the field's code list
    to_dyad: str | None  # ConceptMap canonical, local -> Dyad; None: carried as the local coding only
    from_dyad: str | None  # ConceptMap canonical, Dyad -> local; None: only the local coding is read back
    # The template also keeps the local coding elsewhere in the resource (Encounter.type for the
    # consultation medium), so an approximate bare code loses nothing.
    local_coding_kept: bool = False


@dataclass(frozen=True, slots=True)
class Translation:
    codings: tuple[dict[str, str], ...]  # Dyad-side codings, best first
    known: bool  # False: the code is not in the ConceptMap at all
    exact: bool  # False: held by a wider/narrower/inexact concept


@dataclass(frozen=True, slots=True)
class ReadBack:
    code: str | None
    exact: bool
    tried: tuple[str, ...]  # the Dyad-side codes that had no local code, for the unmappable list


class CodeTranslator:
    def __init__(
        self,
        concept_maps: list[dict[str, Any]],
        fields: dict[str, CodedField],
        code_systems: list[dict[str, Any]] | None = None,
    ) -> None:
        self.fields = fields
        self._terminology = Terminology(
            ProfilePackage(tuple(concept_maps) + tuple(code_systems or ()), "mapping-conceptmaps")
        )
        self._codings: dict[tuple[str, str], dict[str, str] | None] = {}
        # A bare code (Encounter.status, ServiceRequest.priority) has no system of its own: read
        # it as a code of the map's first source system.
        self._bare_system = {m["url"]: (m.get("group") or [{}])[0].get("source", "") for m in concept_maps}
        self._cache: dict[tuple[str, str], Translation] = {}

    def coding(self, system: str, code: str) -> dict[str, str] | None:
        """A Coding with Dyad's display, or None when the code is not in that (held) CodeSystem."""
        key = (system, code)
        if key not in self._codings:
            found = self._terminology.lookup(system, code)
            self._codings[key] = (
                None
                if found is None
                else {"system": system, "code": code, **({"display": found["display"]} if found.get("display") else {})}
            )
        return self._codings[key]

    def has_map(self, url: str) -> bool:
        return url in self._bare_system

    def to_dyad(self, field: CodedField, code: str) -> Translation:
        assert field.to_dyad is not None
        key = (field.field, code)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._translate(field.to_dyad, field.system, code)
        return found

    def from_dyad(self, field: CodedField, values: list[Any]) -> ReadBack:
        codings = list(_codings(values))
        own = next((c["code"] for c in codings if c.get("system") == field.system), None)
        if own is not None:
            return ReadBack(own, True, ())
        if field.from_dyad is None:
            return ReadBack(None, True, tuple(_label(c) for c in codings))
        for coding in codings:
            if not coding.get("code"):
                continue
            system = coding.get("system") or self._bare_system.get(field.from_dyad, "")
            found = self._translate(field.from_dyad, system, coding.get("code", ""))
            if found.codings:
                return ReadBack(found.codings[0]["code"], found.exact, ())
        return ReadBack(None, True, tuple(_label(c) for c in codings))

    def _translate(self, url: str, system: str, code: str) -> Translation:
        matches = self._terminology.translate(system, code, conceptmap_url=url)
        usable = [m for m in matches if m["equivalence"] not in NO_TARGET and m["concept"].get("code")]
        return Translation(
            codings=tuple(m["concept"] for m in usable),
            known=bool(matches),
            exact=bool(usable) and usable[0]["equivalence"] in EXACT,
        )


def _codings(values: list[Any]) -> list[dict[str, str]]:
    """Codings out of CodeableConcepts, Codings or bare codes, in order."""
    out: list[dict[str, str]] = []
    for value in values:
        if isinstance(value, str):
            out.append({"code": value})
        elif isinstance(value, dict) and "coding" in value:
            out.extend(c for c in value["coding"] if isinstance(c, dict))
        elif isinstance(value, dict) and "code" in value:
            out.append(value)
    return out


def _label(coding: dict[str, str]) -> str:
    return f"{coding['system']}|{coding.get('code', '')}" if coding.get("system") else coding.get("code", "")
