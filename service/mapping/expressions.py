"""FHIRPath expressions compiled once, for fpml's `evaluate` hook.

fpml calls `evaluate(resource, expression, context)` for every `{{ }}` in a template, and its
default recompiles each time. Compiling once with fhirpathpy still costs 15-200 µs per call,
which alone would hold mapping under a few hundred records a second. So each expression is
parsed once with fhirpathpy's own parser and, when it only uses the subset the mappings need
(paths, %variables, literals, = != and or | & in, where/select/exists/empty/first/last/count/
not/iif/ofType and the mapping functions), turned into plain Python closures. Anything else
falls back to fhirpathpy's compiled function, so the full language stays available. A test
runs every template expression both ways to keep the two in step.
"""

from collections.abc import Callable, Mapping
from typing import Any

import fhirpathpy
from fhirpathpy.engine.util import get_data
from fhirpathpy.parser import parse

Collection = list[Any]
Scope = tuple[Collection, Mapping[str, Any]]  # ($this focus, %variables)
Compiled = Callable[[Collection, Mapping[str, Any]], Collection]
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


class Unsupported(Exception):
    """The expression uses FHIRPath beyond the compiled subset; fhirpathpy evaluates it."""


def _truthy(result: Collection) -> bool:
    return len(result) == 1 and result[0] is True


def _single(result: Collection) -> Any:
    return result[0] if len(result) == 1 else None


def _navigate(focus: Collection, name: str) -> Collection:
    out: Collection = []
    for item in focus:
        if isinstance(item, dict):
            value = item.get(name)
            if value is None:
                continue
            if isinstance(value, list):
                out.extend(v for v in value if v is not None)
            else:
                out.append(value)
    return out


def _dedupe(items: Collection) -> Collection:
    out: Collection = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


class ExpressionCompiler:
    """Compiles expressions to closures; shares the mapping functions with the fhirpathpy fallback."""

    def __init__(self, functions: Mapping[str, tuple[MappingFunction, int]]) -> None:
        self._functions = dict(functions)
        self._fallback_options = {
            "userInvocationTable": {
                name: {"fn": _plain_arguments(fn), "arity": {arity: ["Any"] * arity}}
                if arity
                else {"fn": fn}
                for name, (fn, arity) in self._functions.items()
            }
        }
        self._cache: dict[str, Callable[[Any, dict[str, Any]], Collection]] = {}
        self._plain_cache: dict[str, Callable[[Any, dict[str, Any]], Collection]] = {}
        self.fallbacks: set[str] = set()

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
        """The expression compiled once, its results sealed for the template engine."""
        compiled = self._cache.get(expression)
        if compiled is None:
            inner = self.compiled(expression)
            compiled = self._cache[expression] = lambda resource, context: _seal(inner(_open(resource), context))
        return compiled

    def compile(self, expression: str) -> Callable[[Any, dict[str, Any]], Collection]:
        try:
            body = self._node(parse(expression)["children"][0])
        except Unsupported:
            self.fallbacks.add(expression)
            return self.compile_with_fhirpathpy(expression)

        def run(resource: Any, context: dict[str, Any]) -> Collection:
            root = [] if resource is None else [resource]
            return body(root, context)

        return run

    def compile_with_fhirpathpy(self, expression: str) -> Callable[[Any, dict[str, Any]], Collection]:
        fn = fhirpathpy.compile(expression, None, self._fallback_options)
        return lambda resource, context: fn(_open(resource), _plain(context))

    # --- AST -> closures ----------------------------------------------------------------------

    def _node(self, node: dict[str, Any]) -> Compiled:
        kind = node["type"]
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            raise Unsupported(kind)
        return handler(node)

    def _TermExpression(self, node: dict[str, Any]) -> Compiled:  # noqa: N802 - AST node names
        return self._node(node["children"][0])

    def _ParenthesizedTerm(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        return self._node(node["children"][0])

    def _InvocationTerm(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        return self._invocation(node["children"][0])

    def _ExternalConstantTerm(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        constant = node["children"][0]["children"][0]
        if constant["type"] != "Identifier":
            raise Unsupported("quoted %constant")
        name = constant["text"]

        def variable(_focus: Collection, variables: Mapping[str, Any]) -> Collection:
            value = _open(variables.get(name))
            if value is None:
                return []
            if isinstance(value, list):
                return [_open(v) for v in value if v is not None]
            return [value]

        return variable

    def _LiteralTerm(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        literal = node["children"][0]
        text = literal["text"]
        if literal["type"] == "StringLiteral":
            value: Any = text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
        elif literal["type"] == "BooleanLiteral":
            value = text == "true"
        elif literal["type"] == "NumberLiteral":
            value = float(text) if "." in text else int(text)
        else:
            raise Unsupported(literal["type"])
        return lambda _focus, _variables: [value]

    def _InvocationExpression(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        chain = _variable_path(node)
        if chain is not None:
            return _fused_path(*chain)
        left = self._node(node["children"][0])
        right = self._invocation(node["children"][1])
        return lambda focus, variables: right(left(focus, variables), variables)

    def _invocation(self, node: dict[str, Any]) -> Compiled:
        kind = node["type"]
        if kind == "MemberInvocation":
            name = node["children"][0]["text"]
            return lambda focus, _variables: _navigate(focus, name)
        if kind == "ThisInvocation":
            return lambda focus, _variables: focus
        if kind == "FunctionInvocation":
            functn = node["children"][0]
            name = functn["children"][0]["text"]
            params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
            return self._function(name, params)
        raise Unsupported(kind)

    def _function(self, name: str, params: list[dict[str, Any]]) -> Compiled:
        if name in ("where", "select", "exists") and params:
            inner = self._node(params[0])
            return _ITERATORS[name](inner)
        if name == "iif":
            return self._iif(params)
        if name == "ofType":
            type_name = params[0]["text"]
            return lambda focus, _v: [
                i for i in focus if isinstance(i, dict) and i.get("resourceType") == type_name
            ]
        if name in _SIMPLE and not params:
            return _SIMPLE[name]
        if name in _STRING_TESTS and len(params) == 1:
            test, argument = _STRING_TESTS[name], self._node(params[0])

            def string_test(focus: Collection, variables: Mapping[str, Any]) -> Collection:
                value, other = _single(focus), _single(argument(focus, variables))
                if not isinstance(value, str) or not isinstance(other, str):
                    return []
                return [test(value, other)]

            return string_test
        if name in self._functions:
            fn, arity = self._functions[name]
            if len(params) != arity:
                raise Unsupported(f"{name} takes {arity} arguments")
            args = [self._node(p) for p in params]

            def call(focus: Collection, variables: Mapping[str, Any]) -> Collection:
                return fn(focus, *(_single(a(focus, variables)) for a in args))

            return call
        raise Unsupported(name)

    def _iif(self, params: list[dict[str, Any]]) -> Compiled:
        if len(params) not in (2, 3):
            raise Unsupported("iif arity")
        condition, then = self._node(params[0]), self._node(params[1])
        otherwise = self._node(params[2]) if len(params) == 3 else (lambda _f, _v: [])
        return lambda focus, variables: (
            then(focus, variables) if _truthy(condition(focus, variables)) else otherwise(focus, variables)
        )

    def _EqualityExpression(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        operator = node["terminalNodeText"][0]
        if operator not in ("=", "!="):
            raise Unsupported(operator)
        left, right = self._node(node["children"][0]), self._node(node["children"][1])
        negate = operator == "!="

        def equal(focus: Collection, variables: Mapping[str, Any]) -> Collection:
            a, b = left(focus, variables), right(focus, variables)
            if not a or not b:
                return []
            return [(a == b) != negate]

        return equal

    def _MembershipExpression(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        if node["terminalNodeText"][0] != "in":
            raise Unsupported("contains")
        left, right = self._node(node["children"][0]), self._node(node["children"][1])

        def member(focus: Collection, variables: Mapping[str, Any]) -> Collection:
            a = left(focus, variables)
            if not a:
                return []
            if len(a) > 1:
                return []
            return [a[0] in right(focus, variables)]

        return member

    def _AndExpression(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        left, right = self._node(node["children"][0]), self._node(node["children"][1])

        def both(focus: Collection, variables: Mapping[str, Any]) -> Collection:
            a = left(focus, variables)
            if a == [False]:
                return [False]
            b = right(focus, variables)
            if b == [False]:
                return [False]
            return [True] if a == [True] and b == [True] else []

        return both

    def _OrExpression(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        if node["terminalNodeText"][0] != "or":
            raise Unsupported("xor")
        left, right = self._node(node["children"][0]), self._node(node["children"][1])

        def either(focus: Collection, variables: Mapping[str, Any]) -> Collection:
            a = left(focus, variables)
            if a == [True]:
                return [True]
            b = right(focus, variables)
            if b == [True]:
                return [True]
            return [False] if a == [False] and b == [False] else []

        return either

    def _UnionExpression(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        left, right = self._node(node["children"][0]), self._node(node["children"][1])
        return lambda focus, variables: _dedupe(left(focus, variables) + right(focus, variables))

    def _AdditiveExpression(self, node: dict[str, Any]) -> Compiled:  # noqa: N802
        if node["terminalNodeText"][0] != "&":
            raise Unsupported("arithmetic")
        left, right = self._node(node["children"][0]), self._node(node["children"][1])

        def concatenate(focus: Collection, variables: Mapping[str, Any]) -> Collection:
            a, b = _single(left(focus, variables)), _single(right(focus, variables))
            return [f"{'' if a is None else a}{'' if b is None else b}"]

        return concatenate


def _variable_path(node: dict[str, Any]) -> tuple[str, list[str]] | None:
    """`%name.a.b.c` as ("name", ["a", "b", "c"]), the commonest expression in a mapping."""
    names: list[str] = []
    while node["type"] == "InvocationExpression":
        right = node["children"][1]
        if right["type"] != "MemberInvocation":
            return None
        names.append(right["children"][0]["text"])
        node = node["children"][0]
    if node["type"] != "TermExpression" or node["children"][0]["type"] != "ExternalConstantTerm":
        return None
    constant = node["children"][0]["children"][0]["children"][0]
    if constant["type"] != "Identifier":
        return None
    return constant["text"], names[::-1]


def _fused_path(variable: str, names: list[str]) -> Compiled:
    def path(_focus: Collection, variables: Mapping[str, Any]) -> Collection:
        value = variables.get(variable)
        if value is None:
            return []
        if type(value) is Held:
            value = value.value
        focus = [_open(v) for v in value if v is not None] if isinstance(value, list) else [value]
        for name in names:
            focus = _navigate(focus, name)
            if not focus:
                break
        return focus

    return path


def _plain_arguments(fn: MappingFunction) -> MappingFunction:
    """fhirpathpy hands arguments over as node collections; the mapping functions take values."""

    def call(inputs: Collection, *args: Any) -> Collection:
        plain = [get_data(a[0]) if isinstance(a, list) and len(a) == 1 else None if isinstance(a, list) else get_data(a) for a in args]
        return fn(inputs, *plain)

    return call


def _where(inner: Compiled) -> Compiled:
    return lambda focus, variables: [i for i in focus if _truthy(inner([i], variables))]


def _select(inner: Compiled) -> Compiled:
    def select(focus: Collection, variables: Mapping[str, Any]) -> Collection:
        out: Collection = []
        for item in focus:
            out.extend(inner([item], variables))
        return out

    return select


def _exists_where(inner: Compiled) -> Compiled:
    return lambda focus, variables: [any(_truthy(inner([i], variables)) for i in focus)]


_ITERATORS: dict[str, Callable[[Compiled], Compiled]] = {
    "where": _where,
    "select": _select,
    "exists": _exists_where,
}


def _not(focus: Collection, _variables: Mapping[str, Any]) -> Collection:
    if len(focus) != 1 or not isinstance(focus[0], bool):
        return []
    return [not focus[0]]


def _to_string(focus: Collection, _variables: Mapping[str, Any]) -> Collection:
    if len(focus) != 1 or isinstance(focus[0], (dict, list)):
        return []
    value = focus[0]
    return ["true" if value is True else "false" if value is False else str(value)]


_SIMPLE: dict[str, Compiled] = {
    "exists": lambda focus, _v: [bool(focus)],
    "empty": lambda focus, _v: [not focus],
    "first": lambda focus, _v: focus[:1],
    "last": lambda focus, _v: focus[-1:],
    "tail": lambda focus, _v: focus[1:],
    "count": lambda focus, _v: [len(focus)],
    "distinct": lambda focus, _v: _dedupe(focus),
    "not": _not,
    "toString": _to_string,
}


_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "startsWith": str.startswith,
    "endsWith": str.endswith,
    "contains": str.__contains__,
}
