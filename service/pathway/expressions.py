"""FHIRPath for the pathway's rules and templates, compiled once against the R4 model.

The model matters: without it `value` on a choice element (answer.value, Observation.value) is
empty, and every rule on a concern level would silently never fire.

Rules run on every write, and fhirpathpy takes milliseconds for a rule's condition; so the
closure compiler the validator uses runs first, and fhirpathpy only where it cannot tell.
"""

from functools import lru_cache
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

from service.conformance.validation.fhirpath_fast import NeedsFullEngine, Unsupported, compile_fast


@lru_cache(maxsize=512)
def _full(expression: str) -> Any:
    return fhirpathpy.compile(expression, models["r4"])


@lru_cache(maxsize=512)
def _fast(expression: str) -> Any | None:
    try:
        return compile_fast(expression)
    except Unsupported:
        return None


def evaluate(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """The expression's result collection; variables are reachable as %name."""
    fast = _fast(expression)
    if fast is not None and not variables and isinstance(resource, dict):
        try:
            return list(fast(resource, resource))
        except NeedsFullEngine:
            pass
    result = _full(expression)(resource, dict(variables or {}))
    return list(result) if isinstance(result, list) else [result]


def is_true(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> bool:
    return evaluate(resource, expression, variables) == [True]


def template_evaluate(resource: Any, expression: str, context: dict[str, Any]) -> list[Any]:
    """The `evaluate` fpml's resolve_template takes."""
    return evaluate(resource, expression, context)
