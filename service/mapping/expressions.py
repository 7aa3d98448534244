"""FHIRPath expressions compiled once, for fpml's `evaluate` hook and Dyad's template engine.

fpml calls `evaluate(resource, expression, context)` for every `{{ }}` in a template, and its
default recompiles each time. Each expression is compiled once by service.fhirpath, with the
mapping functions as the engine's own; the data sets' capitalised field names
(`%record.OrgIDProvider`) navigate as the JSON keys they are.
"""

from collections.abc import Callable, Mapping
from typing import Any

from service import fhirpath

Collection = list[Any]
# A mapping function: (focus collection, *evaluated argument values) -> result collection
MappingFunction = Callable[..., Collection]


class Held:
    """A value an expression produced, handed to fpml sealed.

    fpml walks whatever an expression returns as if it were more template: strings in a
    record (a note saying "{{ ... }}") would be evaluated, and every returned resource would
    be rebuilt as a new dict, losing its identity. Sealed values pass through fpml untouched;
    `unseal` opens them in the finished output.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return str(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, Held) else other)

    __hash__ = None  # type: ignore[assignment]


def _seal(items: Collection) -> Collection:
    return [Held(v) if isinstance(v, (str, dict, list)) else v for v in items]


def _open(value: Any) -> Any:
    return value.value if isinstance(value, Held) else value


def _plain(context: Mapping[str, Any]) -> dict[str, Any]:
    return {k: [_open(i) for i in v] if isinstance(v, list) else _open(v) for k, v in context.items()}


def unseal(node: Any) -> Any:
    """The template output with every sealed value opened (the values themselves are not copied)."""
    if isinstance(node, Held):
        return node.value
    if isinstance(node, dict):
        return {k: unseal(v) for k, v in node.items()}
    if isinstance(node, list):
        return [unseal(v) for v in node]
    return node


class ExpressionCompiler:
    """Compiles expressions with service.fhirpath, the mapping functions added to the engine's."""

    def __init__(self, functions: Mapping[str, tuple[MappingFunction, int]]) -> None:
        self._functions = {name: fn for name, (fn, _arity) in functions.items()}
        self._cache: dict[str, Callable[[Any, dict[str, Any]], Collection]] = {}
        self._plain_cache: dict[str, Callable[[Any, dict[str, Any]], Collection]] = {}

    def evaluate(self, resource: Any, expression: str, context: dict[str, Any]) -> Collection:
        """The `evaluate` fpml's resolve_template takes: compiled on first use, then cached."""
        return self.sealed(expression)(resource, context)

    def compiled(self, expression: str) -> Callable[[Any, dict[str, Any]], Collection]:
        """The expression compiled once; for Dyad's template engine, which never re-reads results."""
        compiled = self._plain_cache.get(expression)
        if compiled is None:
            compiled = self._plain_cache[expression] = self.compile(expression)
        return compiled

    def sealed(self, expression: str) -> Callable[[Any, dict[str, Any]], Collection]:
        """The expression compiled once, its results sealed for fpml (whose context may hold
        sealed values, opened here)."""
        compiled = self._cache.get(expression)
        if compiled is None:
            inner = self.compiled(expression)
            compiled = self._cache[expression] = lambda resource, context: _seal(
                inner(_open(resource), _plain(context))
            )
        return compiled

    def compile(self, expression: str) -> Callable[[Any, dict[str, Any]], Collection]:
        engine = fhirpath.compile(expression, functions=self._functions)

        def run(resource: Any, context: dict[str, Any]) -> Collection:
            return [fhirpath.json_value(v) for v in engine.evaluate(resource, context)]

        return run
