"""FHIRPath invariants (ElementDefinition.constraint), compiled once.

fhirpathpy evaluates an expression in 100 µs to a few ms on these machines, which alone would
spend the validation budget. So each invariant runs, in order of preference: a direct dict
implementation (the base R4 invariants, used only while the expression text is exactly the one
it was written for), else the closure compiler in fhirpath_fast, else fhirpathpy. The first two
fall back to fhirpathpy whenever they cannot tell; tests/conformance check all engines agree.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from service.conformance.validation.elements import Context
from service.conformance.validation.fhirpath_fast import NeedsFullEngine, Unsupported, compile_fast

Evaluator = Callable[[Any, dict[str, Any]], bool | None]  # None: cannot tell, ask FHIRPath
_R4_MODEL = models["r4"]


def _has_prefix(value: dict[str, Any], prefix: str) -> bool:
    return any(key.startswith(prefix) and not key.startswith("_") for key in value)


def _obs_value(value: dict[str, Any]) -> bool:
    return any(
        key.startswith("value") and key[5:6].isupper() for key in value
    )


def _obs_6(value: Any, _root: dict[str, Any]) -> bool:
    return "dataAbsentReason" not in value or not _obs_value(value)


def _obs_7(value: Any, root: dict[str, Any]) -> bool:
    if not _obs_value(value):
        return True
    own = (root.get("code") or {}).get("coding") or []
    for component in value.get("component") or []:
        for coding in ((component.get("code") or {}).get("coding") or []):
            if coding in own:
                return False
    return True


def _not_both(first: str, second: str) -> Evaluator:
    return lambda value, _root: first not in value or second not in value


def _any_of(*names: str) -> Evaluator:
    return lambda value, _root: any(name in value for name in names)


def _gol_1(value: Any, _root: dict[str, Any]) -> bool:
    has_detail = any(key.startswith("detail") and key[6:7].isupper() for key in value)
    return not has_detail or "measure" in value


def _inv_1(value: Any, _root: dict[str, Any]) -> bool | None:
    if "lastModified" not in value or "authoredOn" not in value:
        return True
    return None  # date comparison with precision rules: leave to FHIRPath


def _contained(value: Any) -> list[dict[str, Any]]:
    return [c for c in value.get("contained") or [] if isinstance(c, dict)]


def _dom_2(value: Any, _root: dict[str, Any]) -> bool:
    return not any("contained" in c for c in _contained(value))


def _dom_4(value: Any, _root: dict[str, Any]) -> bool:
    return not any(
        "versionId" in (c.get("meta") or {}) or "lastUpdated" in (c.get("meta") or {})
        for c in _contained(value)
    )


def _dom_5(value: Any, _root: dict[str, Any]) -> bool:
    return not any("security" in (c.get("meta") or {}) for c in _contained(value))


def _dom_3(value: Any, _root: dict[str, Any]) -> bool:
    contained = _contained(value)
    if not contained:
        return True
    pointers = set(_strings_at(value, "reference"))
    for resource in contained:
        points_home = "#" in set(_strings_at(resource, "reference"))
        if not points_home and f"#{resource.get('id')}" not in pointers:
            return False
    return True


def _strings_at(value: Any, key: str) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for k, v in current.items():
                if k == key and isinstance(v, str):
                    found.append(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(current, list):
            stack.extend(current)
    return found


def _dom_6(value: Any, _root: dict[str, Any]) -> bool:
    return "div" in (value.get("text") or {})


NATIVE: dict[str, tuple[str, Evaluator]] = {
    "obs-3": ("low.exists() or high.exists() or text.exists()", _any_of("low", "high", "text")),
    "obs-6": ("dataAbsentReason.empty() or value.empty()", _obs_6),
    "obs-7": (
        "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()",
        _obs_7,
    ),
    "prr-1": ("orderDetail.empty() or code.exists()", lambda v, _r: "orderDetail" not in v or "code" in v),
    "cpl-3": ("detail.empty() or reference.empty()", _not_both("detail", "reference")),
    "gol-1": ("(detail.exists() and measure.exists()) or detail.exists().not()", _gol_1),
    "inv-1": (
        "lastModified.exists().not() or authoredOn.exists().not() or lastModified >= authoredOn",
        _inv_1,
    ),
    "pat-1": (
        "name.exists() or telecom.exists() or address.exists() or organization.exists()",
        _any_of("name", "telecom", "address", "organization"),
    ),
    "dom-2": ("contained.contained.empty()", _dom_2),
    "dom-4": ("contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", _dom_4),
    "dom-5": ("contained.meta.security.empty()", _dom_5),
    "dom-6": ("text.`div`.exists()", _dom_6),
}
# dom-3's FHIRPath walks descendants() three times over; its meaning is a reference scan.
NATIVE_ONLY: dict[str, Evaluator] = {"dom-3": _dom_3}


def fhirpath_evaluator(expression: str, base: str | None = None) -> Evaluator:
    """fhirpathpy over the R4 model; `base` is the element path of the context (e.g. Goal.target),
    without which fhirpathpy cannot resolve choice elements such as detail[x] inside it."""
    compiled = fhirpathpy.compile(expression, _R4_MODEL)
    typed = base is not None and "." in base

    def evaluate(value: Any, root: dict[str, Any]) -> bool | None:
        focus = ResourceNode.create_node(value, base) if typed else value
        result = compiled(focus, {"resource": root, "rootResource": root})
        if not result:
            return True  # an empty result does not contradict the rule
        return not (len(result) == 1 and result[0] is False)

    return evaluate


def fast_evaluator(expression: str) -> Evaluator | None:
    try:
        compiled = compile_fast(expression)
    except Unsupported:
        return None

    def evaluate(value: Any, root: dict[str, Any]) -> bool | None:
        try:
            result = compiled(value, root)
        except NeedsFullEngine:
            return None
        if not result:
            return True
        return not (len(result) == 1 and result[0] is False)

    return evaluate


def evaluator_for(key: str, expression: str, base: str | None) -> tuple[Evaluator, Evaluator | None]:
    """The evaluator to use first, and the fhirpathpy one to fall back on when it cannot tell."""
    if key in NATIVE_ONLY:
        return NATIVE_ONLY[key], None
    native = NATIVE.get(key)
    if native is not None and native[0] == expression:
        return native[1], fhirpath_evaluator(expression, base)
    fast = fast_evaluator(expression)
    if fast is not None:
        return fast, fhirpath_evaluator(expression, base)
    return fhirpath_evaluator(expression, base), None


@dataclass(frozen=True, slots=True)
class Invariant:
    key: str
    severity: str  # error | warning
    human: str
    expression: str
    evaluate: Evaluator
    fallback: Evaluator | None

    def __call__(self, value: Any, path: str, ctx: Context) -> None:
        if not isinstance(value, dict):
            return
        try:
            holds = self.evaluate(value, ctx.root)
            if holds is None and self.fallback is not None:
                holds = self.fallback(value, ctx.root)
        except Exception as exc:  # noqa: BLE001 - a broken expression must not stop validation
            ctx.report("warning", "processing", f"{self.key} could not be evaluated: {exc}", path)
            return
        if holds is False:
            ctx.report(
                "error" if self.severity == "error" else "warning",
                "invariant",
                f"{self.key}: {self.human}",
                path,
            )


def compile_invariant(constraint: dict[str, Any], base: str | None = None) -> Invariant | None:
    """base: the element path the constraint sits on (Goal.target), for fhirpathpy's typing."""
    expression = constraint.get("expression")
    key = constraint.get("key", "")
    if not expression:
        return None
    evaluate, fallback = evaluator_for(key, expression, base)
    return Invariant(key, constraint.get("severity", "error"), constraint.get("human", key),
                     expression, evaluate, fallback)
