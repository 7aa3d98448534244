"""Compiled element rules and how they are applied to an instance.

A profile compiles to a tree of ElementRule, one per constrained element. Applying a rule to a
parent object gathers the element's values (with their FHIRPath locations) once, runs the
checks that look at the whole collection (cardinality, choice types, slicing), then the checks
that look at each value, then the child rules inside each value.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.conformance.issues import Issue

Located = tuple[Any, str]  # a value and its FHIRPath location, e.g. Observation.component[1]


@dataclass(slots=True)
class Context:
    root: dict[str, Any]
    issues: list[Issue] = field(default_factory=list)
    structure: list[Issue] = field(default_factory=list)  # malformed document: 400 on write
    extensions: dict[str, Any] = field(default_factory=dict)  # the guide's own, by url

    def report(self, severity: str, code: str, message: str, expression: str) -> None:
        self.issues.append(Issue(severity, code, message, expression))


ItemCheck = Callable[[Any, str, Context], None]
CollectionCheck = Callable[[list[Located], str, Context], None]


@dataclass(slots=True)
class ElementRule:
    name: str  # element name as profiled: 'component', 'value[x]'
    keys: tuple[tuple[str, bool], ...]  # JSON keys that carry it, and whether each repeats
    collection_checks: list[CollectionCheck] = field(default_factory=list)
    item_checks: list[ItemCheck] = field(default_factory=list)
    children: list["ElementRule"] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.collection_checks or self.item_checks or self.children)


def gather(keys: tuple[tuple[str, bool], ...], parent: dict[str, Any], parent_path: str) -> list[Located]:
    found: list[Located] = []
    for key, repeats in keys:
        value = parent.get(key)
        if value is None:
            continue
        if repeats and type(value) is list:
            prefix = f"{parent_path}.{key}["
            found.extend((item, f"{prefix}{i}]") for i, item in enumerate(value))
        else:
            found.append((value, f"{parent_path}.{key}"))
    return found


def apply_rule(rule: ElementRule, parent: dict[str, Any], parent_path: str, ctx: Context) -> None:
    items = gather(rule.keys, parent, parent_path)
    for check in rule.collection_checks:
        check(items, parent_path, ctx)
    if items:
        apply_to_items(rule, items, ctx)


def apply_to_items(rule: ElementRule, items: list[Located], ctx: Context) -> None:
    for value, path in items:
        for item_check in rule.item_checks:
            item_check(value, path, ctx)
        if rule.children and type(value) is dict:
            for child in rule.children:
                apply_rule(child, value, path, ctx)


def conforms(rule: ElementRule, value: Any, path: str, root: dict[str, Any]) -> bool:
    """Whether one value meets a rule with no error; used where a slice has no usable discriminator."""
    probe = Context(root)
    apply_to_items(rule, [(value, path)], probe)
    return not any(issue.severity in ("error", "fatal") for issue in probe.issues)
