"""The CodeSystems Dyad holds, indexed for lookup and hierarchy questions."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

NOT_SELECTABLE = "notSelectable"


@dataclass(slots=True)
class Concept:
    code: str
    display: str | None
    definition: str | None
    properties: list[dict[str, Any]]
    designations: list[dict[str, Any]]
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    @property
    def abstract(self) -> bool:
        return any(p.get("code") == NOT_SELECTABLE and p.get("valueBoolean") is True for p in self.properties)

    def displays(self) -> set[str]:
        names = {d["value"] for d in self.designations if isinstance(d.get("value"), str)}
        if self.display:
            names.add(self.display)
        return names


@dataclass(slots=True)
class LocalCodeSystem:
    url: str
    version: str | None
    name: str | None
    case_sensitive: bool
    concepts: dict[str, Concept]
    # Descendants of each concept, computed once so is-a / descendent-of filters are set reads.
    _descendants: dict[str, frozenset[str]] = field(default_factory=dict)

    def get(self, code: str) -> Concept | None:
        concept = self.concepts.get(code)
        if concept is None and not self.case_sensitive:
            lowered = code.lower()
            concept = next((c for k, c in self.concepts.items() if k.lower() == lowered), None)
        return concept

    def descendants(self, code: str) -> frozenset[str]:
        return self._descendants.get(code, frozenset())

    def in_order(self) -> Iterator[Concept]:
        return iter(self.concepts.values())


def read_code_system(resource: dict[str, Any]) -> LocalCodeSystem:
    concepts: dict[str, Concept] = {}
    _flatten(resource.get("concept") or [], None, concepts)
    _apply_parent_properties(concepts)
    system = LocalCodeSystem(
        url=resource["url"],
        version=resource.get("version"),
        name=resource.get("name"),
        # FHIR's default for a CodeSystem without caseSensitive is undefined; Dyad's own
        # systems declare it, and treating an undeclared one as sensitive is the strict reading.
        case_sensitive=resource.get("caseSensitive", True) is not False,
        concepts=concepts,
    )
    system._descendants = {code: frozenset(_walk_down(concepts, code)) for code in concepts}
    return system


def _flatten(items: Iterable[dict[str, Any]], parent: str | None, out: dict[str, Concept]) -> None:
    for item in items:
        code = item["code"]
        concept = out.get(code)
        if concept is None:
            concept = Concept(
                code,
                item.get("display"),
                item.get("definition"),
                list(item.get("property") or []),
                list(item.get("designation") or []),
            )
            out[code] = concept
        if parent is not None:
            _link(out, parent, code)
        _flatten(item.get("concept") or [], code, out)


def _apply_parent_properties(concepts: dict[str, Concept]) -> None:
    """A hierarchy may also be stated with `parent` properties instead of nesting."""
    for concept in concepts.values():
        for prop in concept.properties:
            if prop.get("code") == "parent" and prop.get("valueCode") in concepts:
                _link(concepts, prop["valueCode"], concept.code)


def _link(concepts: dict[str, Concept], parent: str, child: str) -> None:
    if child not in concepts[parent].children:
        concepts[parent].children.append(child)
    if parent not in concepts[child].parents:
        concepts[child].parents.append(parent)


def _walk_down(concepts: dict[str, Concept], code: str) -> Iterator[str]:
    seen: set[str] = set()
    stack = list(concepts[code].children)
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        stack.extend(concepts[current].children)
