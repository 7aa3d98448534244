"""FHIRPath for the pathway's rules and templates: service.fhirpath, compiled once per expression.

The engine types elements by the R4 model, so `value` on a choice element (answer.value,
Observation.value) is found; without that every rule on a concern level would silently never fire.
"""

from decimal import Decimal
from typing import Any

from service import fhirpath


def evaluate(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """The expression's result collection; variables are reachable as %name."""
    return fhirpath.compile(expression).evaluate(resource, variables)


def is_true(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> bool:
    return evaluate(resource, expression, variables) == [True]


def template_evaluate(resource: Any, expression: str, context: dict[str, Any]) -> list[Any]:
    """The `evaluate` fpml's resolve_template takes; computed values come back as JSON values."""
    return [_json_value(v) for v in evaluate(resource, expression, context)]


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else float(value)
    if isinstance(value, fhirpath.Temporal):
        return str(value)
    if isinstance(value, fhirpath.Quantity):
        return {"value": _json_value(value.value), "unit": value.unit}
    return value
