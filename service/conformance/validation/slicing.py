"""Slicing: sort an element's values into slices by discriminator, then hold each slice to its
cardinality and rules, and the whole to the slicing's rules (open/closed/openAtEnd, ordered)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.conformance.validation.base_types import choice_type_of
from service.conformance.validation.elements import (
    Context,
    ElementRule,
    Located,
    apply_to_items,
    conforms,
)
from service.conformance.validation.fixed_pattern import contains_pattern

Matcher = Callable[[Any, str, dict[str, Any]], bool]  # value, path, root


@dataclass(slots=True)
class Slice:
    name: str
    matches: Matcher
    rule: ElementRule
    min: int
    max: int | None


@dataclass(slots=True)
class Slicing:
    element: str  # 'component'
    slices: list[Slice]
    rules: str  # open | closed | openAtEnd
    ordered: bool
    # When every slice is told apart by one code (or url) at one path, a dict from that key to
    # the slice's position replaces trying each slice's matcher in turn.
    keyed: "SliceKeys | None" = None

    def __call__(self, items: list[Located], parent_path: str, ctx: Context) -> None:
        matched: list[list[Located]] = [[] for _ in self.slices]
        seen_unmatched = False
        last_index = -1
        for value, path in items:
            if self.keyed is not None:
                index = self.keyed.slice_of(value)
            else:
                index = next((i for i, s in enumerate(self.slices) if s.matches(value, path, ctx.root)), None)
            if index is None:
                seen_unmatched = True
                if self.rules == "closed":
                    ctx.report(
                        "error",
                        "structure",
                        f"{path} matches none of the slices of {self.element}, and the slicing is closed",
                        path,
                    )
                continue
            if self.rules == "openAtEnd" and seen_unmatched:
                ctx.report(
                    "error",
                    "structure",
                    f"{path} is in slice {self.slices[index].name} after values that match no slice; "
                    f"unmatched values must come last",
                    path,
                )
            if self.ordered and index < last_index:
                ctx.report(
                    "error",
                    "structure",
                    f"{path} (slice {self.slices[index].name}) is out of the order the profile sets",
                    path,
                )
            last_index = max(last_index, index)
            matched[index].append((value, path))
        for spec, found in zip(self.slices, matched, strict=True):
            self._cardinality(spec, found, parent_path, ctx)
            if found:
                apply_to_items(spec.rule, found, ctx)

    def _cardinality(self, spec: Slice, found: list[Located], parent_path: str, ctx: Context) -> None:
        if len(found) < spec.min:
            ctx.report(
                "error",
                "required",
                f"{parent_path}.{self.element} needs at least {spec.min} value(s) in slice "
                f"{spec.name}, found {len(found)}",
                f"{parent_path}.{self.element}",
            )
        if spec.max is not None and len(found) > spec.max:
            ctx.report(
                "error",
                "structure",
                f"slice {spec.name} of {parent_path}.{self.element} allows at most {spec.max} "
                f"value(s), found {len(found)}",
                found[spec.max][1],
            )


def values_at(value: Any, steps: list[str]) -> list[Any]:
    current = [value]
    for step in steps:
        following: list[Any] = []
        for item in current:
            if isinstance(item, dict):
                if step.endswith("[x]"):
                    stem = step[:-3]
                    following.extend(
                        v for k, v in item.items() if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()
                    )
                    continue
                found = item.get(step)
                if isinstance(found, list):
                    following.extend(found)
                elif found is not None:
                    following.append(found)
        current = following
    return current


def value_matcher(steps: list[str], expected: Any, exact: bool) -> Matcher:
    def matches(value: Any, _path: str, _root: dict[str, Any]) -> bool:
        found = values_at(value, steps)
        if exact:
            return any(item == expected for item in found)
        return any(contains_pattern(item, expected) for item in found)

    return matches


def type_matcher(steps: list[str], types: frozenset[str]) -> Matcher:
    def matches(value: Any, path: str, _root: dict[str, Any]) -> bool:
        if not steps:
            key = path.rsplit(".", 1)[1].split("[", 1)[0]
            if isinstance(value, dict) and "resourceType" in value:
                return value["resourceType"] in types
            return any(
                choice_type_of(key, key[: len(key) - len(t)] + "[x]") in types
                for t in types
                if key.endswith(t[:1].upper() + t[1:])
            )
        parent_steps, last = steps[:-1], steps[-1].removesuffix("[x]")
        for holder in values_at(value, parent_steps):
            if isinstance(holder, dict):
                for key in holder:
                    if key.startswith(last) and key[len(last) : len(last) + 1].isupper():
                        if choice_type_of(key, last + "[x]") in types:
                            return True
                    elif key == last and isinstance(holder[key], dict):
                        if holder[key].get("resourceType") in types:
                            return True
        return False

    return matches


def exists_matcher(steps: list[str], should_exist: bool) -> Matcher:
    return lambda value, _path, _root: bool(values_at(value, steps)) == should_exist


def conformance_matcher(rule: ElementRule) -> Matcher:
    return lambda value, path, root: conforms(rule, value, path, root)


def all_of(matchers: list[Matcher]) -> Matcher:
    if len(matchers) == 1:
        return matchers[0]
    return lambda value, path, root: all(m(value, path, root) for m in matchers)


@dataclass(frozen=True, slots=True)
class SliceKeys:
    steps: tuple[str, ...]
    by_key: dict[Any, int]  # (system, code) or a primitive value -> slice position

    def slice_of(self, value: Any) -> int | None:
        best: int | None = None
        for found in values_at(value, list(self.steps)):
            if isinstance(found, dict):
                for coding in found.get("coding") or ():
                    if isinstance(coding, dict):
                        hit = self.by_key.get((coding.get("system"), coding.get("code")))
                        if hit is not None and (best is None or hit < best):
                            best = hit
            else:
                hit = self.by_key.get(found) if isinstance(found, (str, int, bool)) else None
                if hit is not None and (best is None or hit < best):
                    best = hit
        return best


def slice_key(expected: Any) -> Any | None:
    """The lookup key of a discriminating value, if it is one code or one primitive."""
    if isinstance(expected, (str, int, bool)):
        return expected
    if isinstance(expected, dict) and set(expected) == {"coding"} and len(expected["coding"]) == 1:
        coding = expected["coding"][0]
        if set(coding) == {"system", "code"}:
            return (coding["system"], coding["code"])
    return None
