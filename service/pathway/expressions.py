"""FHIRPath for the pathway's rules and templates: service.fhirpath, compiled once per expression.

The engine types elements by the R4 model, so `value` on a choice element (answer.value,
Observation.value) is found; without that every rule on a concern level would silently never fire.
"""

from typing import Any

from service import fhirpath


def evaluate(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """The expression's result collection; variables are reachable as %name."""
    return fhirpath.compile(expression).evaluate(resource, variables)


def is_true(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> bool:
    return evaluate(resource, expression, variables) == [True]


def template_evaluate(resource: Any, expression: str, context: dict[str, Any]) -> list[Any]:
    """The `evaluate` fpml's resolve_template takes; computed values come back as JSON values."""
    return [fhirpath.json_value(v) for v in evaluate(resource, expression, context)]
