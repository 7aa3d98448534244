"""FHIRPath parse trees (fhirpathpy's ANTLR grammar) compiled to Python closures.

Every closure takes the focus collection and the evaluation context and returns a collection,
so an expression is parsed and resolved once and then runs as plain function calls.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from service.fhirpath import operators as ops
from service.fhirpath.model import PRIMITIVES, TypeModel
from service.fhirpath.values import FHIRPathError, Node, Quantity, parse_date_time, parse_time

Collection = list[Any]


class Context:
    """One evaluation's state: $this/$index/$total, %variables, the model and the clock."""

    __slots__ = ("this", "index", "total", "variables", "model", "strict", "clock", "root")

    def __init__(
        self, this: Any, root: Any, variables: Mapping[str, Any], model: TypeModel, strict: bool, clock: datetime | None
    ) -> None:
        self.this = this
        self.index: int | None = None
        self.total: Collection | None = None
        self.variables = variables
        self.model = model
        self.strict = strict
        self.clock = clock
        self.root = root

    def iteration(self, item: Any, index: int) -> "Context":
        inner = object.__new__(Context)
        inner.this, inner.index, inner.total = item, index, self.total
        inner.variables, inner.model, inner.strict = self.variables, self.model, self.strict
        inner.clock, inner.root = self.clock, self.root
        return inner


Compiled = Callable[[Collection, Context], Collection]

# Caller-supplied functions (the mappings' own) for the compile in progress.
_USER_FUNCTIONS: ContextVar[Mapping[str, Callable[..., Collection]]] = ContextVar(
    "user_functions", default=MappingProxyType({})
)


@contextmanager
def using_functions(functions: Mapping[str, Callable[..., Collection]]) -> Iterator[None]:
    token = _USER_FUNCTIONS.set(functions)
    try:
        yield
    finally:
        _USER_FUNCTIONS.reset(token)


def user_function(name: str) -> Callable[..., Collection] | None:
    return _USER_FUNCTIONS.get().get(name)


class _Raise(ErrorListener):
    def syntaxError(self, recognizer: Any, offendingSymbol: Any, line: int, column: int, msg: str, e: Any) -> None:
        raise FHIRPathError(f"syntax error at {line}:{column}: {msg}")


def _raise(error: Exception) -> None:
    raise FHIRPathError(f"syntax error: {error}")


# fhirpathpy's lexer wants a time after 'T'; FHIRPath allows `@2015T` (a DateTime to the year).
_PARTIAL_DATE_TIME = re.compile(
    r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|//[^\n]*|/\*.*?\*/|@(\d{4}(?:-\d{2}(?:-\d{2})?)?)T(?![\d])", re.DOTALL
)


def _partial_date_times(expression: str) -> str:
    def rewrite(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) is None else f"(@{match.group(1)}.toDateTime())"

    return _PARTIAL_DATE_TIME.sub(rewrite, expression)


def parse_tree(expression: str) -> dict[str, Any]:
    """fhirpathpy's AST for the whole expression; unlike fhirpathpy's own parse, a syntax
    error or unparsed trailing text raises instead of being recovered from."""
    if "T" in expression:
        expression = _partial_date_times(expression)
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.recover = _raise
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Raise())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.buildParseTrees = True
    parser.removeErrorListeners()
    parser.addErrorListener(_Raise())
    listener = ASTPathListener()
    ParseTreeWalker().walk(listener, parser.entireExpression())
    return listener.parentStack[0]


def compile_tree(tree: dict[str, Any]) -> Compiled:
    node = tree["children"][0]
    if node["type"] == "EntireExpression":
        node = node["children"][0]
    return _compile(node)


def _compile(node: dict[str, Any]) -> Compiled:
    handler = _HANDLERS.get(node["type"])
    if handler is None:
        raise FHIRPathError(f"unsupported syntax: {node['type']}")
    return handler(node)


def _first_child(node: dict[str, Any]) -> Compiled:
    return _compile(node["children"][0])


def identifier_text(node: dict[str, Any]) -> str:
    text = node["terminalNodeText"][0] if node.get("terminalNodeText") else node.get("text", "")
    if text.startswith("`") and text.endswith("`"):
        return text[1:-1]
    return text


def dotted_name(node: dict[str, Any]) -> str:
    """A type specifier or a path of identifiers (`FHIR.Patient`, `System.Integer`) as text."""
    kind = node["type"]
    if kind == "Identifier":
        return identifier_text(node)
    if kind == "InvocationExpression":
        return f"{dotted_name(node['children'][0])}.{dotted_name(node['children'][1])}"
    if kind in ("TermExpression", "InvocationTerm", "MemberInvocation", "TypeSpecifier"):
        return dotted_name(node["children"][0])
    if kind == "QualifiedIdentifier":
        return ".".join(dotted_name(c) for c in node["children"])
    raise FHIRPathError(f"expected a type name, found {node.get('text') or kind}")


# --- terms ----------------------------------------------------------------------------------------


def _invocation_term(node: dict[str, Any]) -> Compiled:
    return _invocation(node["children"][0], explicit_input=False)


def _invocation_expression(node: dict[str, Any]) -> Compiled:
    source = _compile(node["children"][0])
    step = _invocation(node["children"][1], explicit_input=True)
    if node["children"][1]["type"] != "MemberInvocation":
        return lambda focus, ctx: step(source(focus, ctx), ctx)
    # a.b.c runs as one loop over its member steps rather than nested calls
    base = getattr(source, "path_base", source)
    steps = [*getattr(source, "path_steps", []), step]

    def path(focus: Collection, ctx: Context) -> Collection:
        items = base(focus, ctx)
        for member in steps:
            if not items:
                return items
            items = member(items, ctx)
        return items

    path.path_base = base  # type: ignore[attr-defined]
    path.path_steps = steps  # type: ignore[attr-defined]
    return path


def _invocation(node: dict[str, Any], explicit_input: bool) -> Compiled:
    kind = node["type"]
    if kind == "MemberInvocation":
        return ops.member_step(identifier_text(node["children"][0]))
    if kind == "FunctionInvocation":
        from service.fhirpath.functions import compile_function

        functn = node["children"][0]
        name = identifier_text(functn["children"][0])
        params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
        return compile_function(name, params, explicit_input)
    if kind == "ThisInvocation":
        return lambda _focus, ctx: [] if ctx.this is None else [ctx.this]
    if kind == "IndexInvocation":
        return lambda _focus, ctx: [] if ctx.index is None else [ctx.index]
    if kind == "TotalInvocation":
        return lambda _focus, ctx: [] if ctx.total is None else list(ctx.total)
    raise FHIRPathError(f"unsupported invocation {kind}")


def _external_constant(node: dict[str, Any]) -> Compiled:
    inner = node["children"][0]
    if inner.get("children"):
        name = identifier_text(inner["children"][0])
    else:
        name = inner["terminalNodeText"][-1]
    if name.startswith("'"):
        name = unescape_string(name[1:-1])
    return _variable(name)


_CONSTANTS: dict[str, Collection] = {
    "ucum": ["http://unitsofmeasure.org"],
    "sct": ["http://snomed.info/sct"],
    "loinc": ["http://loinc.org"],
}


def _variable(name: str) -> Compiled:
    def variable(_focus: Collection, ctx: Context) -> Collection:
        if name in ("resource", "rootResource", "context") and name not in ctx.variables:
            return [] if ctx.root is None else [ctx.root]
        value = ctx.variables.get(name)
        if value is None:
            if name in _CONSTANTS:
                return _CONSTANTS[name]
            if name.startswith("vs-"):
                return ["http://hl7.org/fhir/ValueSet/" + name[3:]]
            if name.startswith("ext-"):
                return ["http://hl7.org/fhir/StructureDefinition/" + name[4:]]
            if name in ctx.variables:
                return []
            raise FHIRPathError(f"undefined variable %{name}")
        # wrapped when read, so that a large variable nobody reads costs nothing
        if type(value) is list:
            return [ops.wrap_root(v) for v in value if v is not None]
        return [ops.wrap_root(value)]

    return variable


_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def unescape_string(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and i + 5 < len(text) + 0 and len(text) >= i + 6:
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def literal_value(node: dict[str, Any]) -> Any:
    kind = node["type"]
    text = node["terminalNodeText"][0] if node.get("terminalNodeText") else node.get("text", "")
    if kind == "StringLiteral":
        return unescape_string(text[1:-1])
    if kind == "NumberLiteral":
        return Decimal(text) if "." in text else int(text)
    if kind == "LongNumberLiteral":
        return int(text.rstrip("L"))
    if kind == "BooleanLiteral":
        return text == "true"
    if kind in ("DateLiteral", "DateTimeLiteral"):
        value = parse_date_time(text[1:], "DateTime" if "T" in text else "Date")
        if value is None:
            raise FHIRPathError(f"invalid date/time literal {text}")
        return value
    if kind == "TimeLiteral":
        value = parse_time(text[2:])
        if value is None:
            raise FHIRPathError(f"invalid time literal {text}")
        return value
    if kind == "QuantityLiteral":
        quantity = node["children"][0]
        number = quantity["terminalNodeText"][0]
        unit_node = quantity["children"][0] if quantity.get("children") else None
        unit = "1"
        if unit_node is not None:
            if unit_node.get("children"):
                unit = unit_node["children"][0]["terminalNodeText"][0]
            else:
                unit = unescape_string(unit_node["terminalNodeText"][0][1:-1])
        return Quantity(Decimal(number), unit)
    raise FHIRPathError(f"unsupported literal {kind}")


def _literal(node: dict[str, Any]) -> Compiled:
    literal = node["children"][0]
    if literal["type"] == "NullLiteral":
        return lambda _focus, _ctx: []
    value = [literal_value(literal)]
    run = lambda _focus, _ctx: value  # noqa: E731
    run.constant = value  # type: ignore[attr-defined]  # lets callers fold constant arguments
    return run


# --- operators ------------------------------------------------------------------------------------


def _binary(node: dict[str, Any]) -> tuple[Compiled, Compiled, str]:
    left, right = (_compile(c) for c in node["children"])
    return left, right, node["terminalNodeText"][0]


def _operator(table: dict[str, Callable[[Collection, Collection], Collection]]) -> Callable[[dict[str, Any]], Compiled]:
    def build(node: dict[str, Any]) -> Compiled:
        left, right, op = _binary(node)
        fn = table[op]
        return lambda focus, ctx: fn(left(focus, ctx), right(focus, ctx))

    return build


def _equality(node: dict[str, Any]) -> Compiled:
    left, right, op = _binary(node)
    constant = getattr(right, "constant", None)
    if op in ("=", "!=") and constant is not None and len(constant) == 1 and type(constant[0]) is str:
        # `status = 'final'`, the commonest comparison, without the general machinery
        wanted, negate = constant[0], op == "!="

        def equals_text(focus: Collection, ctx: Context) -> Collection:
            items = left(focus, ctx)
            if len(items) != 1:
                return ops.EQUALITY[op](items, constant)
            item = items[0]
            if type(item) is Node and type(item.value) is str and PRIMITIVES.get(item.type or "string") == "String":
                return [(item.value == wanted) != negate]
            if type(item) is str:
                return [(item == wanted) != negate]
            return ops.EQUALITY[op](items, constant)

        return equals_text
    fn = ops.EQUALITY[op]
    return lambda focus, ctx: fn(left(focus, ctx), right(focus, ctx))


def _logic(node: dict[str, Any]) -> Compiled:
    left, right, op = _binary(node)
    truth = ops.truth
    if op == "and":

        def run_and(focus: Collection, ctx: Context) -> Collection:
            a = truth(left(focus, ctx))
            if a is False:
                return [False]
            b = truth(right(focus, ctx))
            if b is False:
                return [False]
            return [True] if a is True and b is True else []

        return run_and
    if op == "or":

        def run_or(focus: Collection, ctx: Context) -> Collection:
            a = truth(left(focus, ctx))
            if a is True:
                return [True]
            b = truth(right(focus, ctx))
            if b is True:
                return [True]
            return [False] if a is False and b is False else []

        return run_or
    if op == "xor":

        def run_xor(focus: Collection, ctx: Context) -> Collection:
            a, b = truth(left(focus, ctx)), truth(right(focus, ctx))
            return [] if a is None or b is None else [a != b]

        return run_xor

    def run_implies(focus: Collection, ctx: Context) -> Collection:
        a = truth(left(focus, ctx))
        if a is False:
            return [True]
        b = truth(right(focus, ctx))
        if b is True:
            return [True]
        if a is True:
            return [] if b is None else [False]
        return []

    return run_implies


def _membership(node: dict[str, Any]) -> Compiled:
    left, right, op = _binary(node)
    pool_side = right if op == "in" else left
    constant = getattr(pool_side, "constant", None)
    if constant is not None and all(type(v) is str for v in constant):
        strings = frozenset(constant)
        probe = left if op == "in" else right

        def in_strings(focus: Collection, ctx: Context) -> Collection:
            item = probe(focus, ctx)
            if not item:
                return []
            if len(item) > 1:
                raise FHIRPathError(f"'{op}' needs a single item")
            value = ops.system(item[0])
            return [type(value) is str and value in strings]

        return in_strings
    if op == "in":
        return lambda focus, ctx: ops.membership(left(focus, ctx), right(focus, ctx))
    return lambda focus, ctx: ops.membership(right(focus, ctx), left(focus, ctx))


def _union(node: dict[str, Any]) -> Compiled:
    left, right, _ = _binary(node)
    left_constant, right_constant = getattr(left, "constant", None), getattr(right, "constant", None)
    if left_constant is not None and right_constant is not None:
        folded = ops.distinct(left_constant + right_constant)
        run = lambda _focus, _ctx: folded  # noqa: E731
        run.constant = folded  # type: ignore[attr-defined]  # `x in ('a' | 'b')` becomes a set lookup
        return run
    return lambda focus, ctx: ops.distinct(left(focus, ctx) + right(focus, ctx))


def _type_expression(node: dict[str, Any]) -> Compiled:
    rotated = _rotate_type_expression(node)
    if rotated is not node:
        return _compile(rotated)
    source = _compile(node["children"][0])
    type_spec = dotted_name(node["children"][1])
    op = node["terminalNodeText"][0]
    if op == "is":

        def is_type(focus: Collection, ctx: Context) -> Collection:
            items = source(focus, ctx)
            if not items:
                return []
            if len(items) > 1:
                raise FHIRPathError("'is' needs a single item")
            return [ops.is_type(items[0], type_spec, ctx.model)]

        return is_type

    def as_type(focus: Collection, ctx: Context) -> Collection:
        items = source(focus, ctx)
        if len(items) > 1 and ctx.strict:
            raise FHIRPathError("'as' needs a single item")
        return [i for i in items if ops.is_type(i, type_spec, ctx.model, exact_primitive=True)]

    return as_type


# FHIRPath N1's grammar (fhirpathpy's) ranks `is`/`as` below `|` and the comparisons; the
# specification as the R4 tests read it ranks them above: `1 | 1 is Integer` is `1 | (1 is Integer)`.
_LOOSER_THAN_TYPE = frozenset({"UnionExpression", "InequalityExpression"})


def _rotate_type_expression(node: dict[str, Any]) -> dict[str, Any]:
    left, type_spec = node["children"]
    if left["type"] not in _LOOSER_THAN_TYPE:
        return node
    lower, upper = left["children"]
    inner = dict(node, children=[upper, type_spec])
    return dict(left, children=[lower, _rotate_type_expression(inner)])


def _polarity(node: dict[str, Any]) -> Compiled:
    inner = _compile(node["children"][0])
    if node["terminalNodeText"][0] == "+":
        return inner
    constant = getattr(inner, "constant", None)
    if constant is not None:
        value = ops.negate(constant)
        run = lambda _focus, _ctx: value  # noqa: E731
        run.constant = value  # type: ignore[attr-defined]
        return run
    return lambda focus, ctx: ops.negate(inner(focus, ctx))


def _indexer(node: dict[str, Any]) -> Compiled:
    source, index = (_compile(c) for c in node["children"])

    def run(focus: Collection, ctx: Context) -> Collection:
        items = source(focus, ctx)
        at = index(focus, ctx)
        if not at:
            return []
        position = ops.system(at[0])
        if type(position) is not int:
            raise FHIRPathError("an index must be an integer")
        return [items[position]] if 0 <= position < len(items) else []

    return run


_HANDLERS: dict[str, Callable[[dict[str, Any]], Compiled]] = {
    "EntireExpression": _first_child,
    "TermExpression": _first_child,
    "ParenthesizedTerm": _first_child,
    "InvocationTerm": _invocation_term,
    "InvocationExpression": _invocation_expression,
    "ExternalConstantTerm": _external_constant,
    "LiteralTerm": _literal,
    "AndExpression": _logic,
    "OrExpression": _logic,
    "ImpliesExpression": _logic,
    "EqualityExpression": _equality,
    "InequalityExpression": _operator(ops.COMPARISON),
    "AdditiveExpression": _operator(ops.ARITHMETIC),
    "MultiplicativeExpression": _operator(ops.ARITHMETIC),
    "MembershipExpression": _membership,
    "UnionExpression": _union,
    "TypeExpression": _type_expression,
    "PolarityExpression": _polarity,
    "IndexerExpression": _indexer,
}
