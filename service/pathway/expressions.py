"""FHIRPath for the pathway's rules and templates, compiled once against the R4 model.

The model matters: without it `value` on a choice element (answer.value, Observation.value) is
empty, and every rule on a concern level would silently never fire.
"""

from functools import lru_cache
from typing import Any

import fhirpathpy
from fhirpathpy.models import models


@lru_cache(maxsize=512)
def _compiled(expression: str) -> Any:
    return fhirpathpy.compile(expression, models["r4"])


def evaluate(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """The expression's result collection; variables are reachable as %name."""
    result = _compiled(expression)(resource, dict(variables or {}))
    return list(result) if isinstance(result, list) else [result]


def is_true(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> bool:
    return evaluate(resource, expression, variables) == [True]


def template_evaluate(resource: Any, expression: str, context: dict[str, Any]) -> list[Any]:
    """The `evaluate` fpml's resolve_template takes."""
    return evaluate(resource, expression, context)
