"""ValueSet compose rules turned into member sets, once, when the package is loaded.

A ValueSet can draw on a system Dyad does not hold (SNOMED CT, LOINC, v3 codes...). Codes that
it lists explicitly can still be expanded, but whether a code from such a system is a member
cannot be decided locally, so those systems are remembered as `unheld` and callers answer
"not checked" for them instead of guessing.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from service.conformance.terminology.codesystems import Concept, LocalCodeSystem


@dataclass(frozen=True, slots=True)
class Member:
    system: str
    code: str
    display: str | None
    abstract: bool = False
    version: str | None = None


@dataclass(slots=True)
class Expansion:
    url: str
    version: str | None
    name: str | None
    members: tuple[Member, ...]
    index: dict[tuple[str, str], Member]
    by_code: dict[str, tuple[Member, ...]]
    systems: frozenset[str]  # every system the compose draws from
    unheld: frozenset[str]  # systems named in the compose that Dyad does not hold
    # Unheld systems included whole or by filter: membership of their codes is undecidable.
    # (An unheld system whose codes the ValueSet lists one by one is decidable: listed or not.)
    open_systems: frozenset[str]
    complete: bool  # False when some part (a whole unheld system, a filter on one) can't be listed
    problems: tuple[str, ...]  # compose parts that could not be understood


class ExpansionError(Exception):
    pass


Key = tuple[str, str]


@dataclass(slots=True)
class _Partial:
    """An include/exclude's result while composing."""

    members: dict[Key, Member]
    systems: set[str]
    unheld: set[str]
    complete: bool
    problems: list[str]
    open: set[str] = field(default_factory=set)


def expand_all(valuesets: dict[str, dict[str, Any]], systems: dict[str, LocalCodeSystem]) -> dict[str, Expansion]:
    done: dict[str, Expansion] = {}
    for url in valuesets:
        _expand(url, valuesets, systems, done, ())
    return done


def _expand(
    url: str,
    valuesets: dict[str, dict[str, Any]],
    systems: dict[str, LocalCodeSystem],
    done: dict[str, Expansion],
    stack: tuple[str, ...],
) -> Expansion | None:
    if url in done:
        return done[url]
    resource = valuesets.get(url)
    if resource is None or url in stack:
        return None
    part = _compose(resource, lambda u: _expand(u, valuesets, systems, done, stack + (url,)), systems)
    members = tuple(part.members.values())
    by_code: dict[str, list[Member]] = {}
    for member in members:
        by_code.setdefault(member.code, []).append(member)
    expansion = Expansion(
        url=url,
        version=resource.get("version"),
        name=resource.get("name"),
        members=members,
        index=dict(part.members),
        by_code={k: tuple(v) for k, v in by_code.items()},
        systems=frozenset(part.systems),
        unheld=frozenset(part.unheld),
        open_systems=frozenset(part.open),
        complete=part.complete,
        problems=tuple(part.problems),
    )
    done[url] = expansion
    return expansion


def _compose(
    resource: dict[str, Any],
    resolve: Callable[[str], Expansion | None],
    systems: dict[str, LocalCodeSystem],
) -> _Partial:
    compose = resource.get("compose")
    if not compose:
        return _from_expansion(resource.get("expansion") or {})
    result = _Partial({}, set(), set(), True, [])
    for include in compose.get("include") or []:
        _merge(result, _select(include, resolve, systems))
    for exclude in compose.get("exclude") or []:
        removed = _select(exclude, resolve, systems)
        for key in removed.members:
            result.members.pop(key, None)
        result.problems.extend(removed.problems)
    return result


def _merge(into: _Partial, part: _Partial) -> None:
    into.members.update(part.members)
    into.systems |= part.systems
    into.unheld |= part.unheld
    into.open |= part.open
    into.complete = into.complete and part.complete
    into.problems.extend(part.problems)


def _from_expansion(expansion: dict[str, Any]) -> _Partial:
    result = _Partial({}, set(), set(), True, [])
    for item in _flatten_contains(expansion.get("contains") or []):
        if item.get("system") and item.get("code"):
            member = Member(item["system"], item["code"], item.get("display"), bool(item.get("abstract")))
            result.members[(member.system, member.code)] = member
            result.systems.add(member.system)
    return result


def _flatten_contains(items: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for item in items:
        yield item
        yield from _flatten_contains(item.get("contains") or [])


def _select(
    include: dict[str, Any],
    resolve: Callable[[str], Expansion | None],
    systems: dict[str, LocalCodeSystem],
) -> _Partial:
    """One include (or exclude): its system part intersected with every imported ValueSet."""
    part: _Partial | None = None
    system_url = include.get("system")
    if system_url:
        part = _from_system(include, system_url, systems)
    for vs_url in include.get("valueSet") or []:
        imported = resolve(vs_url.split("|")[0])
        if imported is None:
            broken = _Partial({}, set(), set(), False, [f"imported ValueSet {vs_url} is not known"])
            part = broken if part is None else _intersect(part, broken)
            continue
        as_part = _Partial(
            dict(imported.index),
            set(imported.systems),
            set(imported.unheld),
            imported.complete,
            list(imported.problems),
            set(imported.open_systems),
        )
        part = as_part if part is None else _intersect(part, as_part)
    return part or _Partial({}, set(), set(), True, ["include names neither system nor valueSet"])


def _intersect(a: _Partial, b: _Partial) -> _Partial:
    members = {k: v for k, v in a.members.items() if k in b.members}
    return _Partial(
        members,
        a.systems & b.systems,
        a.unheld & b.unheld,
        a.complete and b.complete,
        a.problems + b.problems,
        a.open & b.open,
    )


def _from_system(include: dict[str, Any], url: str, systems: dict[str, LocalCodeSystem]) -> _Partial:
    held = systems.get(url)
    listed = include.get("concept") or []
    filters = include.get("filter") or []
    result = _Partial({}, {url}, set(), True, [])
    if held is None:
        result.unheld.add(url)
        for item in listed:
            result.members[(url, item["code"])] = Member(url, item["code"], item.get("display"))
        # A filter or a whole system we do not hold cannot be listed.
        if filters or not listed:
            result.complete = False
            result.open.add(url)
        return result
    if listed:
        for item in listed:
            concept = held.get(item["code"])
            if concept is None:
                result.problems.append(f"{item['code']} is not a code in {url}")
                continue
            result.members[(url, concept.code)] = _member(held, concept, item.get("display"))
        return result
    codes: set[str] | None = None
    for spec in filters:
        selected = _apply_filter(held, spec, result.problems)
        codes = selected if codes is None else codes & selected
    for concept in held.in_order():
        if codes is None or concept.code in codes:
            result.members[(url, concept.code)] = _member(held, concept, None)
    return result


def _member(system: LocalCodeSystem, concept: Concept, display: str | None) -> Member:
    return Member(system.url, concept.code, display or concept.display, concept.abstract, system.version)


def _apply_filter(system: LocalCodeSystem, spec: dict[str, Any], problems: list[str]) -> set[str]:
    prop, op, value = spec.get("property"), spec.get("op"), spec.get("value", "")
    if prop == "concept" and op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
        if system.get(value) is None:
            problems.append(f"filter value {value} is not a code in {system.url}")
            return set()
        below = set(system.descendants(value))
        if op == "descendent-of":
            return below
        if op == "is-a":
            return below | {value}
        if op == "generalizes":
            return {c.code for c in system.in_order() if value in system.descendants(c.code)} | {value}
        return {c.code for c in system.in_order()} - below - {value}
    if op == "in" or op == "not-in":
        values = {v.strip() for v in value.split(",")}
        chosen = {c.code for c in system.in_order() if _property_values(c, prop) & values}
        return chosen if op == "in" else {c.code for c in system.in_order()} - chosen
    if op == "=":
        return {c.code for c in system.in_order() if value in _property_values(c, prop)}
    if op == "regex":
        pattern = re.compile(value)
        return {c.code for c in system.in_order() if any(pattern.fullmatch(v) for v in _property_values(c, prop))}
    if op == "exists":
        wanted = value == "true"
        return {c.code for c in system.in_order() if bool(_property_values(c, prop)) == wanted}
    problems.append(f"filter {prop} {op} {value} is not supported")
    return set()


def _property_values(concept: Concept, prop: str | None) -> set[str]:
    if prop in ("concept", "code"):
        return {concept.code}
    if prop == "display":
        return {concept.display} if concept.display else set()
    if prop == "parent":
        return set(concept.parents)
    if prop == "child":
        return set(concept.children)
    values: set[str] = set()
    for item in concept.properties:
        if item.get("code") == prop:
            for key, val in item.items():
                if key.startswith("value"):
                    values.add(str(val).lower() if isinstance(val, bool) else str(val))
    return values
