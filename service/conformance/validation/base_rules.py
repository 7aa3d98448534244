"""What every instance of a base type is held to, beyond fhir.resources' structure: the base R4
invariants (profiles/base/invariants-r4.json) and the required code bindings of the status-like
`code` elements that fhir.resources does not enforce."""

from pathlib import Path
from typing import Any

import orjson

from service.conformance.validation.base_types import shape_of_model, shape_of_type
from service.conformance.validation.elements import Context, ElementRule
from service.conformance.validation.invariants import compile_invariant

INVARIANTS_FILE = Path("base") / "invariants-r4.json"

# Required bindings of R4 `code` elements on the types Dyad profiles (R4 4.0.1 value sets).
_REQUEST_STATUS = ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown")
_REQUEST_INTENT = ("proposal", "plan", "directive", "order", "original-order", "reflex-order",
                   "filler-order", "instance-order", "option")
_PRIORITY = ("routine", "urgent", "asap", "stat")
_GENDER = ("male", "female", "other", "unknown")
BASE_CODES: dict[str, tuple[str, ...]] = {
    "Observation.status": ("registered", "preliminary", "final", "amended", "corrected",
                           "cancelled", "entered-in-error", "unknown"),
    "ServiceRequest.status": _REQUEST_STATUS,
    "ServiceRequest.intent": _REQUEST_INTENT,
    "ServiceRequest.priority": _PRIORITY,
    "CarePlan.status": _REQUEST_STATUS,
    "CarePlan.intent": ("proposal", "plan", "order", "option"),
    "Task.status": ("draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
                    "in-progress", "on-hold", "failed", "completed", "entered-in-error"),
    "Task.intent": ("unknown", "proposal", "plan", "order", "original-order", "reflex-order",
                    "filler-order", "instance-order", "option"),
    "Task.priority": _PRIORITY,
    "Goal.lifecycleStatus": ("proposed", "planned", "accepted", "active", "on-hold", "completed",
                             "cancelled", "entered-in-error", "rejected"),
    "Patient.gender": _GENDER,
    "RelatedPerson.gender": _GENDER,
}
_DOMAIN_RESOURCE = "DomainResource"


class BaseCode:
    __slots__ = ("element", "codes")

    def __init__(self, element: str, codes: tuple[str, ...]) -> None:
        self.element = element
        self.codes = frozenset(codes)

    def __call__(self, value: Any, path: str, ctx: Context) -> None:
        if isinstance(value, str) and value not in self.codes:
            ctx.report("error", "code-invalid",
                       f"{path} must be one of {', '.join(sorted(self.codes))} (required by FHIR R4); "
                       f"'{value}' is not", path)


def load_base_invariants(profiles_dir: Path) -> list[dict[str, Any]]:
    path = profiles_dir / INVARIANTS_FILE
    if not path.is_file():
        return []
    return list(orjson.loads(path.read_bytes()).get("invariants") or [])


def base_rule(type_name: str, invariants: list[dict[str, Any]], best_practice: bool) -> ElementRule:
    """Rules every `type_name` resource meets, arranged like a compiled profile."""
    root = ElementRule(type_name, ())
    for spec in invariants:
        if spec.get("bestPractice") and not best_practice:
            continue
        path = spec.get("path", "")
        if path == _DOMAIN_RESOURCE:
            path = type_name
        if path.split(".")[0] != type_name:
            continue
        invariant = compile_invariant(spec, path)
        if invariant is not None:
            _rule_at(root, type_name, path).item_checks.append(invariant)
    for element, codes in BASE_CODES.items():
        if element.split(".")[0] == type_name:
            _rule_at(root, type_name, element).item_checks.append(BaseCode(element, codes))
    return root


def _rule_at(root: ElementRule, type_name: str, path: str) -> ElementRule:
    rule = root
    shape = shape_of_type(type_name)
    for step in path.split(".")[1:]:
        field = shape.by_json[step] if shape else None
        existing = next((c for c in rule.children if c.name == step), None)
        if existing is None:
            existing = ElementRule(step, ((step, field.is_list if field else False),))
            rule.children.append(existing)
        rule = existing
        shape = shape_of_model(field.model) if field and field.model else None
    return rule
