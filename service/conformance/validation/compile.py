"""From a StructureDefinition's element tree to check objects, once per profile."""

from dataclasses import dataclass, field
from typing import Any

from service.conformance.terminology import Terminology
from service.conformance.validation.base_types import Field, TypeShape, shape_of_model, shape_of_type
from service.conformance.validation.bindings import Binding
from service.conformance.validation.cardinality import Cardinality, parse_max
from service.conformance.validation.choice_types import ChoiceTypes
from service.conformance.validation.definitions import ElementNode
from service.conformance.validation.elements import ElementRule
from service.conformance.validation.fixed_pattern import Fixed, Pattern
from service.conformance.validation.invariants import compile_invariant
from service.conformance.validation.references import ReferenceTargets
from service.conformance.validation.slicing import (
    Matcher,
    Slice,
    SliceKeys,
    Slicing,
    all_of,
    conformance_matcher,
    exists_matcher,
    slice_key,
    type_matcher,
    value_matcher,
)

BASE_SD = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(slots=True)
class Compiler:
    terminology: Terminology
    profile_types: dict[str, str]  # canonical URL -> resource type, for every package profile
    problems: list[str] = field(default_factory=list)

    def root_rule(self, tree: ElementNode, type_name: str) -> ElementRule:
        shape = shape_of_type(type_name)
        rule = ElementRule(type_name, ())
        if shape is None:
            self.problems.append(f"{type_name} is not a FHIR R4 type known to fhir.resources")
            return rule
        rule.item_checks.extend(self._item_checks(tree.definition, None))
        rule.children = self._children(tree, shape, type_name)
        return rule

    def _children(self, node: ElementNode, shape: TypeShape, path: str) -> list[ElementRule]:
        rules = []
        for name, child in node.children.items():
            compiled = self._element(child, shape, f"{path}.{name}")
            if compiled is not None and not compiled.is_empty():
                rules.append(compiled)
        return rules

    def _element(self, node: ElementNode, shape: TypeShape, path: str) -> ElementRule | None:
        fields = shape.by_element.get(node.name) or ((shape.by_json[node.name],) if node.name in shape.by_json else ())
        if not fields:
            self.problems.append(f"{path}: no such element in {shape.name}")
            return None
        definition = node.definition
        rule = ElementRule(node.name, tuple((f.json_name, f.is_list) for f in fields))
        if "min" in definition or "max" in definition:
            minimum = int(definition.get("min", 0))
            maximum = parse_max(definition.get("max"))
            if minimum > 0 or maximum is not None:
                rule.collection_checks.append(Cardinality(node.name, minimum, maximum))
        allowed = [t["code"] for t in definition.get("type") or [] if "code" in t]
        if node.name.endswith("[x]") and allowed:
            rule.collection_checks.append(ChoiceTypes(node.name, frozenset(allowed)))
        rule.item_checks.extend(self._item_checks(definition, fields))
        child_shape = _shape_below(fields, allowed)
        if child_shape is not None:
            rule.children = self._children(node, child_shape, path)
        elif node.children:
            self.problems.append(f"{path}: cannot constrain inside a choice of several types")
        if node.slices:
            rule.collection_checks.append(self._slicing(node, fields, child_shape, path))
        return rule

    def _item_checks(self, definition: dict[str, Any], fields: tuple[Field, ...] | None) -> list:
        checks: list = []
        for key, value in definition.items():
            if key.startswith("fixed"):
                checks.append(Fixed(value))
            elif key.startswith("pattern"):
                checks.append(Pattern(value))
        binding = definition.get("binding") or {}
        if binding.get("strength") in ("required", "extensible") and binding.get("valueSet"):
            checks.append(Binding(binding["valueSet"], binding["strength"], self.terminology))
        targets = self._reference_targets(definition)
        if targets is not None:
            checks.append(targets)
        for constraint in definition.get("constraint") or []:
            if constraint.get("source", "").startswith(BASE_SD):
                continue  # the R4 core pass (core.py) runs the base definitions' constraints
            invariant = compile_invariant(constraint, definition.get("path"))
            if invariant is not None:
                checks.append(invariant)
        return checks

    def _reference_targets(self, definition: dict[str, Any]) -> ReferenceTargets | None:
        profiles = [
            url
            for t in definition.get("type") or []
            if t.get("code") == "Reference"
            for url in t.get("targetProfile") or []
        ]
        if not profiles:
            return None
        types = set()
        for url in profiles:
            found = self.profile_types.get(url.split("|")[0])
            if found is None and url.startswith(BASE_SD):
                found = url[len(BASE_SD) :]
            if found is None:
                self.problems.append(f"targetProfile {url} is not known; any target type is accepted")
                return None
            types.add(found)
        return ReferenceTargets(frozenset(types), tuple(profiles))

    def _slicing(self, node: ElementNode, fields: tuple[Field, ...], shape: TypeShape | None, path: str) -> Slicing:
        spec = node.definition.get("slicing") or {}
        discriminators = spec.get("discriminator") or (
            [{"type": "value", "path": "url"}] if node.name in ("extension", "modifierExtension") else []
        )
        slices = []
        for slice_name, slice_node in node.slices.items():
            rule = ElementRule(node.name, tuple((f.json_name, f.is_list) for f in fields))
            rule.item_checks.extend(self._item_checks(slice_node.definition, fields))
            slice_shape = shape
            slice_types = [t["code"] for t in slice_node.definition.get("type") or [] if "code" in t]
            if slice_shape is None:
                slice_shape = _shape_below(fields, slice_types)
            if slice_shape is not None:
                rule.children = self._children(slice_node, slice_shape, f"{path}:{slice_name}")
            matcher = self._matcher(discriminators, slice_node, rule, f"{path}:{slice_name}")
            slices.append(
                Slice(
                    slice_name,
                    matcher,
                    rule,
                    int(slice_node.definition.get("min", 0)),
                    parse_max(slice_node.definition.get("max")),
                )
            )
        return Slicing(
            node.name,
            slices,
            spec.get("rules", "open"),
            bool(spec.get("ordered", False)),
            _slice_keys(discriminators, node),
        )

    def _matcher(
        self, discriminators: list[dict[str, Any]], node: ElementNode, rule: ElementRule, path: str
    ) -> Matcher:
        matchers: list[Matcher] = []
        for discriminator in discriminators:
            kind = discriminator.get("type")
            steps = [] if discriminator.get("path", "$this") == "$this" else discriminator["path"].split(".")
            matcher = self._one_matcher(kind, steps, node)
            if matcher is None:
                self.problems.append(
                    f"{path}: discriminator {kind}:{discriminator.get('path')} not usable; "
                    "slice membership is decided by conformance to the slice"
                )
                return conformance_matcher(rule)
            matchers.append(matcher)
        return all_of(matchers) if matchers else conformance_matcher(rule)

    def _one_matcher(self, kind: str | None, steps: list[str], node: ElementNode) -> Matcher | None:
        if kind in ("value", "pattern"):
            target = node.child_at(steps)
            if steps == ["url"] and (target is None or not _fixed_or_pattern(target.definition)):
                profiles = [p for t in node.definition.get("type") or [] for p in t.get("profile") or []]
                return value_matcher(steps, profiles[0], exact=True) if profiles else None
            if target is None:
                return None
            found = _fixed_or_pattern(target.definition)
            if found is None:
                return None
            key, expected = found
            return value_matcher(steps, expected, exact=key.startswith("fixed"))
        if kind == "type":
            target = node.child_at(steps)
            types = frozenset(t["code"] for t in (target.definition if target else {}).get("type") or [])
            return type_matcher(steps, types) if types else None
        if kind == "exists":
            target = node.child_at(steps)
            if target is None:
                return None
            return exists_matcher(steps, int(target.definition.get("min", 0)) > 0)
        return None  # profile discriminators fall back to conformance


def _slice_keys(discriminators: list[dict[str, Any]], node: ElementNode) -> SliceKeys | None:
    if len(discriminators) != 1 or discriminators[0].get("type") not in ("value", "pattern"):
        return None
    path = discriminators[0].get("path", "$this")
    steps = [] if path == "$this" else path.split(".")
    by_key: dict[Any, int] = {}
    for position, slice_node in enumerate(node.slices.values()):
        target = slice_node.child_at(steps)
        found = _fixed_or_pattern(target.definition) if target else None
        if found is None and steps == ["url"]:
            profiles = [p for t in slice_node.definition.get("type") or [] for p in t.get("profile") or []]
            found = ("fixedUri", profiles[0]) if profiles else None
        key = slice_key(found[1]) if found else None
        if key is None:
            return None
        by_key.setdefault(key, position)
    return SliceKeys(tuple(steps), by_key)


def _fixed_or_pattern(definition: dict[str, Any]) -> tuple[str, Any] | None:
    for key, value in definition.items():
        if key.startswith(("fixed", "pattern")):
            return key, value
    return None


def _shape_below(fields: tuple[Field, ...], allowed: list[str]) -> TypeShape | None:
    candidates = [f for f in fields if f.model is not None and (not allowed or f.type_code in allowed)]
    if len(candidates) == 1:
        return shape_of_model(candidates[0].model)
    if allowed == ["Extension"]:
        return shape_of_type("Extension")
    return None
