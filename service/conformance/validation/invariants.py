"""FHIRPath invariants (ElementDefinition.constraint), compiled once by service.fhirpath.

One engine decides every invariant: the base R4 ones, the profiles' own, whatever the
expression; there is no second implementation whose answers could drift from it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service import fhirpath
from service.conformance.validation.elements import Context

Evaluator = Callable[[Any, dict[str, Any]], bool]


def fhirpath_evaluator(expression: str, base: str | None = None) -> Evaluator:
    """base: the element path the constraint sits on (Goal.target), which types the focus so
    that choice elements such as detail[x] inside it can be read."""
    compiled = fhirpath.compile(expression)

    def evaluate(value: Any, root: dict[str, Any]) -> bool:
        result = compiled.nodes(root, focus=value, focus_path=base)
        if not result:
            return True  # an empty result does not contradict the rule
        return not (len(result) == 1 and fhirpath.plain(result[0]) is False)

    return evaluate


@dataclass(frozen=True, slots=True)
class Invariant:
    key: str
    severity: str  # error | warning
    human: str
    expression: str
    evaluate: Evaluator

    def __call__(self, value: Any, path: str, ctx: Context) -> None:
        if not isinstance(value, dict):
            return
        try:
            holds = self.evaluate(value, ctx.root)
        except Exception as exc:
            ctx.report("warning", "processing", f"{self.key} could not be evaluated: {exc}", path)
            return
        if not holds:
            ctx.report(
                "error" if self.severity == "error" else "warning",
                "invariant",
                f"{self.key}: {self.human}",
                path,
            )


def compile_invariant(constraint: dict[str, Any], base: str | None = None) -> Invariant | None:
    """base: the element path the constraint sits on (Goal.target)."""
    expression = constraint.get("expression")
    key = constraint.get("key", "")
    if not expression:
        return None
    return Invariant(
        key,
        constraint.get("severity", "error"),
        constraint.get("human", key),
        expression,
        fhirpath_evaluator(expression, base),
    )
