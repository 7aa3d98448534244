"""Dyad's one FHIRPath engine (FHIRPath N1 as FHIR R4 uses it, with the 2.0 functions the
R4 test cases exercise).

    evaluate(resource, expression, variables=None) -> list
    compile(expression) -> Compiled;  Compiled.evaluate(resource, variables=None) -> list

Expressions are parsed with fhirpathpy's ANTLR grammar and compiled once to closures (see
compiler.py); compile() caches by expression text. Results are plain values: an element from
the resource comes back as its JSON value (dict, str, bool, number), a computed value as a
System value (str, bool, int, Decimal, Temporal, Quantity). Decimals are exact (Decimal).
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from service.fhirpath.compiler import Context, compile_tree, parse_tree, using_functions
from service.fhirpath.model import R4, TypeModel
from service.fhirpath.operators import typed_node, wrap_root
from service.fhirpath.raw import compile_raw, compile_untyped
from service.fhirpath.values import FHIRPathError, Node, Quantity, Temporal

__all__ = [
    "Compiled",
    "FHIRPathError",
    "Quantity",
    "Temporal",
    "TypeModel",
    "compile",
    "evaluate",
    "json_value",
    "plain",
]

UserFunction = Callable[..., list[Any]]  # (focus values, *single argument values) -> values


class Compiled:
    """An expression compiled once; evaluate() runs it against a resource."""

    __slots__ = ("expression", "_body", "_model", "_strict", "_raw", "_untyped")

    def __init__(
        self,
        expression: str,
        body: Any,
        model: TypeModel,
        strict: bool,
        raw: Callable[[Any], list[Any] | None] | None = None,
        untyped: Callable[[Any, Any], list[Any] | None] | None = None,
    ) -> None:
        self.expression = expression
        self._body = body
        self._model = model
        self._strict = strict
        self._raw = raw
        self._untyped = untyped

    def evaluate(
        self, resource: Any, variables: Mapping[str, Any] | None = None, clock: datetime | None = None
    ) -> list[Any]:
        """The result as plain values. A primitive that has only extensions (no value) has no
        plain value and is left out; nodes() keeps it."""
        if self._raw is not None and not variables:
            walked = self._raw(resource)
            if walked is not None:
                return walked
        if self._untyped is not None:
            walked = self._untyped(resource, variables)
            if walked is not None:
                return walked
        return [
            plain(item)
            for item in self.nodes(resource, variables, clock)
            if type(item) is not Node or item.value is not None
        ]

    def nodes(
        self,
        resource: Any,
        variables: Mapping[str, Any] | None = None,
        clock: datetime | None = None,
        focus: Any = None,
        focus_path: str | None = None,
    ) -> list[Any]:
        """The result before unwrapping: elements as Nodes carrying their FHIR type.
        focus: where evaluation starts when it is not the resource (an element inside it, such
        as the one an invariant sits on); focus_path: that element's path (Goal.target), which
        types it so that its choice elements and primitives read right."""
        root = wrap_root(resource)
        start = root if focus is None or focus is resource else typed_node(focus, focus_path, self._model)
        ctx = Context(start, root, variables or _NO_VARIABLES, self._model, self._strict, clock)
        return self._body([] if start is None else [start], ctx)

    def __call__(self, resource: Any, variables: Mapping[str, Any] | None = None) -> list[Any]:
        return self.evaluate(resource, variables)


def plain(item: Any) -> Any:
    """A result item as a plain value: a resource element as its JSON value."""
    if type(item) is Node:
        return item.value
    return item


_NO_VARIABLES: Mapping[str, Any] = {}


def json_value(value: Any) -> Any:
    """A result item as a JSON value, for callers that put results into resources: a Decimal as
    an int or float, a date/time as its text, a Quantity as {value, unit}."""
    if isinstance(value, Decimal):
        integral = value == value.to_integral_value() and value.as_tuple().exponent == 0
        return int(value) if integral else float(value)
    if isinstance(value, Temporal):
        return str(value)
    if isinstance(value, Quantity):
        return {"value": json_value(value.value), "unit": value.unit}
    return value


def compile(
    expression: str, *, strict: bool = False, model: TypeModel = R4, functions: Mapping[str, UserFunction] | None = None
) -> Compiled:
    """strict: unknown element names and JSON choice names (valueQuantity) are errors, as the
    specification says; lenient (the default for Dyad's callers) reads them as empty / as JSON.
    functions: extra functions by name (the mappings' own), called with plain values."""
    if functions:
        return _compile_uncached(expression, strict, model, tuple(sorted(functions.items())))
    return _compile_cached(expression, strict, model)


@lru_cache(maxsize=4096)
def _compile_cached(expression: str, strict: bool, model: TypeModel) -> Compiled:
    return _compile_uncached(expression, strict, model, ())


def _compile_uncached(
    expression: str, strict: bool, model: TypeModel, functions: tuple[tuple[str, UserFunction], ...]
) -> Compiled:
    try:
        tree = parse_tree(expression)
    except FHIRPathError:
        raise
    except Exception as exc:
        raise FHIRPathError(f"syntax error: {exc}") from exc
    with using_functions(dict(functions)):
        body = compile_tree(tree)
    raw = compile_raw(tree, model) if not strict and not functions else None
    untyped = compile_untyped(tree) if not strict and raw is None else None
    return Compiled(expression, body, model, strict, raw, untyped)


def evaluate(
    resource: Any, expression: str, variables: Mapping[str, Any] | None = None, *, strict: bool = False
) -> list[Any]:
    """The expression's result over the resource; variables are reachable as %name."""
    return compile(expression, strict=strict).evaluate(resource, variables)
