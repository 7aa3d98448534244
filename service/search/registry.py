"""Which search parameters each resource type has, built from SearchParameter resources."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# Parameters the FHIR spec defines on Resource/DomainResource that have no expression to index:
# they are search controls (handled by the query parser) or features Dyad does not offer.
_UNINDEXABLE_BASE_TYPES = frozenset({"Resource", "DomainResource"})
# Answered from the resource table itself, never from the index tables.
RESOURCE_TABLE_PARAMS = frozenset({"_id", "_lastUpdated"})

SEARCH_TYPES = frozenset({"number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"})


@dataclass(frozen=True, slots=True)
class Component:
    """One part of a composite parameter: which parameter it is, evaluated on what."""

    definition: str
    expression: str


@dataclass(frozen=True, slots=True)
class SearchParam:
    code: str
    type: str
    # Only the union branches that apply to the resource type this instance was made for;
    # None when the parameter has nothing to index (e.g. _id is read from the resource table).
    expression: str | None
    url: str
    description: str = ""
    targets: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()


class SearchRegistry:
    """Search parameters by resource type, then by code. Immutable once built."""

    def __init__(
        self,
        by_type: Mapping[str, Mapping[str, SearchParam]],
        common: Mapping[str, SearchParam],
        by_url: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self._by_type = by_type
        self._common = common
        self._by_url = by_url
        self._merged: dict[str, Mapping[str, SearchParam]] = {}

    @classmethod
    def from_definitions(cls, definitions: Iterable[Mapping[str, Any]]) -> "SearchRegistry":
        """Later definitions of the same code on the same type replace earlier ones."""
        by_type: dict[str, dict[str, SearchParam]] = {}
        common: dict[str, SearchParam] = {}
        by_url: dict[str, Mapping[str, Any]] = {}
        for definition in definitions:
            if definition.get("resourceType") != "SearchParameter":
                continue
            if definition.get("status") == "retired":
                continue
            if "url" in definition:
                by_url[str(definition["url"])] = definition
            for base in definition.get("base", []):
                param = _param_for(definition, base)
                if param is None:
                    continue
                if base in _UNINDEXABLE_BASE_TYPES:
                    common[param.code] = param
                else:
                    by_type.setdefault(base, {})[param.code] = param
        return cls(by_type, common, by_url)

    def params_for(self, res_type: str) -> Mapping[str, SearchParam]:
        """Every parameter of the type, the Resource-level ones (_id, _tag...) included."""
        merged = self._merged.get(res_type)
        if merged is None:
            params = {code: _for_type(p, res_type) for code, p in self._common.items()}
            params.update(self._by_type.get(res_type, {}))
            merged = self._merged[res_type] = MappingProxyType(params)
        return merged

    def get(self, res_type: str, code: str) -> SearchParam | None:
        return self.params_for(res_type).get(code)

    def types(self) -> frozenset[str]:
        """The resource types with parameters of their own (every type has the common ones)."""
        return frozenset(self._by_type)

    def definition(self, url: str) -> Mapping[str, Any] | None:
        """The SearchParameter resource a parameter came from, e.g. for a composite's parts."""
        return self._by_url.get(url)


def _param_for(definition: Mapping[str, Any], base: str) -> SearchParam | None:
    code = definition.get("code")
    kind = definition.get("type")
    if not code or kind not in SEARCH_TYPES:
        return None
    raw_expression = definition.get("expression")
    if code in RESOURCE_TABLE_PARAMS:
        expression = None
    elif not raw_expression:
        return None  # _text, _content, _filter, _has, _list, _query, _type: not indexable
    else:
        expression = narrow_expression(str(raw_expression), base)
        if expression is None:
            return None
    return SearchParam(
        code=str(code),
        type=str(kind),
        expression=expression,
        url=str(definition.get("url", "")),
        description=str(definition.get("description", "")),
        targets=tuple(definition.get("target", ())),
        modifiers=tuple(definition.get("modifier", ())),
        comparators=tuple(definition.get("comparator", ())),
        components=tuple(
            Component(str(c["definition"]), str(c["expression"])) for c in definition.get("component", ())
        ),
    )


def _for_type(param: SearchParam, res_type: str) -> SearchParam:
    """A Resource-level parameter with its expression rooted at the concrete type.

    fhirpathpy does not match `Resource.meta` against an Observation, so the root is renamed.
    """
    if param.expression is None:
        return param
    expression = param.expression
    for root in _UNINDEXABLE_BASE_TYPES:
        expression = _rename_roots(expression, root, res_type)
    return SearchParam(
        code=param.code,
        type=param.type,
        expression=expression,
        url=param.url,
        description=param.description,
        targets=param.targets,
        modifiers=param.modifiers,
        comparators=param.comparators,
        components=param.components,
    )


def _rename_roots(expression: str, old: str, new: str) -> str:
    branches = split_union(expression)
    renamed = []
    for branch in branches:
        stripped = branch.lstrip("(")
        if _root_of(stripped) == old:
            prefix = branch[: len(branch) - len(stripped)]
            stripped = new + stripped[len(old) :]
            branch = prefix + stripped
        renamed.append(branch)
    return " | ".join(renamed)


def narrow_expression(expression: str, res_type: str) -> str | None:
    """Keep the `|` branches of a shared expression that start at res_type (or Resource).

    The shared `clinical-code` expression names fifteen types; evaluating all of them for an
    Observation wastes time and could pick up a same-named element meant for another type.
    """
    kept = [
        branch
        for branch in split_union(expression)
        if _root_of(branch.lstrip("(").lstrip()) in (res_type, "Resource", "DomainResource")
    ]
    return " | ".join(kept) if kept else None


def _root_of(branch: str) -> str:
    end = 0
    while end < len(branch) and (branch[end].isalnum() or branch[end] == "_"):
        end += 1
    return branch[:end]


def split_union(expression: str) -> list[str]:
    """Split on top-level `|`, leaving those inside parentheses and string literals alone."""
    branches: list[str] = []
    depth = 0
    in_string = False
    start = 0
    for index, char in enumerate(expression):
        if in_string:
            if char == "'" and expression[index - 1] != "\\":
                in_string = False
        elif char == "'":
            in_string = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(expression[start:index].strip())
            start = index + 1
    branches.append(expression[start:].strip())
    return [b for b in branches if b]
