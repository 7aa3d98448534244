"""FROZEN BASELINE, not used by the service: the closure compiler Dyad ran before
service/fhirpath replaced it (service/conformance/validation/fhirpath_fast.py at 5fafbf6),
kept only so bench/fhirpath_bench.py can measure the new engine against it in the same run.

A compiler from fhirpathpy's parse tree to Python closures, for the FHIRPath subset that
profile invariants use (paths, existence, where/all, boolean logic, equality, membership,
string and integer functions).

fhirpathpy interprets the tree on every call and spends 100 µs to several ms per invariant;
the closures here run the same logic over the raw JSON in a few µs. Anything outside the
subset raises Unsupported at compile time, and a value the subset cannot judge (a date
comparison with precision rules, say) raises NeedsFullEngine at run time; in both cases the
caller uses fhirpathpy instead, so the answer never depends on which engine ran.
"""

import re
from collections.abc import Callable
from typing import Any

from fhirpathpy.models import models
from fhirpathpy.parser import parse

Collection = list[Any]
Env = dict[str, Any]
Compiled = Callable[[Collection, Env], Collection]


# The type names a choice element's JSON name can end in (valueQuantity, effectiveDateTime):
# `performer` must not pick up `performerType`, which is another element, not a choice of it.
CHOICE_SUFFIXES: frozenset[str] = frozenset(
    type_name[:1].upper() + type_name[1:] for types in models["r4"]["choiceTypePaths"].values() for type_name in types
)


class Unsupported(Exception):
    pass


class NeedsFullEngine(Exception):
    pass


def compile_fast(expression: str) -> Callable[[Any, dict[str, Any]], Collection]:
    tree = parse(expression)
    body = _node(tree["children"][0])

    def run(focus: Any, root: dict[str, Any]) -> Collection:
        return body([focus], {"resource": root, "rootResource": root, "context": focus, "this": focus})

    return run


def _node(node: dict[str, Any]) -> Compiled:
    kind = node.get("type")
    handler = _HANDLERS.get(kind or "")
    if handler is None:
        raise Unsupported(kind)
    return handler(node)


def _only_child(node: dict[str, Any]) -> Compiled:
    return _node(node["children"][0])


def _member(name: str) -> Compiled:
    def navigate(focus: Collection, _env: Env) -> Collection:
        out: Collection = []
        for item in focus:
            if type(item) is not dict:
                continue
            if name in item:
                value = item[name]
                if type(value) is list:
                    out.extend(value)
                else:
                    out.append(value)
            elif name[:1].isupper() and item.get("resourceType") == name:
                out.append(item)
            else:
                for key, value in item.items():
                    if key.startswith(name) and key[len(name) :] in CHOICE_SUFFIXES:
                        out.append(value)
        return out

    return navigate


def _identifier(node: dict[str, Any]) -> str:
    text = node["children"][0]["text"] if node.get("children") else node["text"]
    return text.strip("`")


def _invocation_term(node: dict[str, Any]) -> Compiled:
    inner = node["children"][0]
    if inner["type"] == "MemberInvocation":
        return _member(_identifier(inner["children"][0]))
    if inner["type"] == "FunctionInvocation":
        return _function(inner["children"][0])
    if inner["type"] == "ThisInvocation":
        return lambda focus, env: [env["this"]] if "this" in env else focus
    raise Unsupported(inner["type"])


def _invocation_expression(node: dict[str, Any]) -> Compiled:
    source = _node(node["children"][0])
    step = node["children"][1]
    if step["type"] == "MemberInvocation":
        nxt = _member(_identifier(step["children"][0]))
    elif step["type"] == "FunctionInvocation":
        nxt = _function(step["children"][0])
    else:
        raise Unsupported(step["type"])
    return lambda focus, env: nxt(source(focus, env), env)


def _external_constant(node: dict[str, Any]) -> Compiled:
    name = _identifier(node["children"][0]["children"][0]) if node["children"][0].get("children") else ""
    if name not in ("resource", "rootResource", "context"):
        raise Unsupported(f"%{name}")
    return lambda _focus, env: [env[name]]


def _literal(node: dict[str, Any]) -> Compiled:
    literal = node["children"][0]
    kind, text = literal["type"], literal.get("text", "")
    if kind == "StringLiteral":
        value: Any = re.sub(r"\\(.)", r"\1", text[1:-1])
    elif kind == "NumberLiteral":
        value = int(text) if text.isdigit() else float(text)
    elif kind == "BooleanLiteral":
        value = text == "true"
    elif kind == "NullLiteral":
        return lambda _f, _e: []
    else:
        raise Unsupported(kind)
    return _constant([value])


def _constant(values: Collection) -> Compiled:
    run = lambda _f, _e: values  # noqa: E731
    run.constant = values  # type: ignore[attr-defined] - lets unions and `in` fold at compile time
    return run


def _truth(collection: Collection) -> bool | None:
    if not collection:
        return None
    if len(collection) > 1:
        raise NeedsFullEngine("boolean of a collection")
    value = collection[0]
    return value if type(value) is bool else True


def _bool(value: bool | None) -> Collection:
    return [] if value is None else [value]


def _logic(node: dict[str, Any]) -> Compiled:
    left, right = (_node(c) for c in node["children"])
    op = node["terminalNodeText"][0]

    def run(focus: Collection, env: Env) -> Collection:
        a = _truth(left(focus, env))
        if op == "and":
            if a is False:
                return [False]
            b = _truth(right(focus, env))
            return [False] if b is False else ([True] if a and b else [])
        if op == "or":
            if a is True:
                return [True]
            b = _truth(right(focus, env))
            return [True] if b is True else ([False] if a is False and b is False else [])
        if op == "implies":
            if a is False:
                return [True]
            b = _truth(right(focus, env))
            if a is True:
                return _bool(b)
            return [True] if b is True else []
        b = _truth(right(focus, env))  # xor
        return [] if a is None or b is None else [a != b]

    return run


def _equality(node: dict[str, Any]) -> Compiled:
    left, right = (_node(c) for c in node["children"])
    op = node["terminalNodeText"][0]
    if op not in ("=", "!="):
        raise Unsupported(op)

    def run(focus: Collection, env: Env) -> Collection:
        a, b = left(focus, env), right(focus, env)
        if not a or not b:
            return []
        same = len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
        return [same if op == "=" else not same]

    return run


def _equal(a: Any, b: Any) -> bool:
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    return a == b


def _inequality(node: dict[str, Any]) -> Compiled:
    left, right = (_node(c) for c in node["children"])
    op = node["terminalNodeText"][0]

    def run(focus: Collection, env: Env) -> Collection:
        a, b = left(focus, env), right(focus, env)
        if not a or not b:
            return []
        x, y = a[0], b[0]
        if len(a) > 1 or len(b) > 1 or isinstance(x, str) or isinstance(y, str) or type(x) is bool:
            raise NeedsFullEngine("comparison outside numbers")
        return [{"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]]

    return run


def _membership(node: dict[str, Any]) -> Compiled:
    left, right = (_node(c) for c in node["children"])
    op = node["terminalNodeText"][0]
    pool_node = right if op == "in" else left
    if hasattr(pool_node, "constant") and all(isinstance(v, str) for v in pool_node.constant):
        strings = frozenset(pool_node.constant)
        probe = left if op == "in" else right

        def in_strings(focus: Collection, env: Env) -> Collection:
            item = probe(focus, env)
            if not item:
                return []
            if len(item) > 1:
                raise NeedsFullEngine("membership of a collection")
            return [isinstance(item[0], str) and item[0] in strings]

        return in_strings

    def run(focus: Collection, env: Env) -> Collection:
        a, b = left(focus, env), right(focus, env)
        item, pool = (a, b) if op == "in" else (b, a)
        if not item:
            return []
        if len(item) > 1:
            raise NeedsFullEngine("membership of a collection")
        return [any(_equal(item[0], x) for x in pool)]

    return run


def _union(node: dict[str, Any]) -> Compiled:
    left, right = (_node(c) for c in node["children"])
    if hasattr(left, "constant") and hasattr(right, "constant"):
        folded: Collection = []
        for x in left.constant + right.constant:
            if not any(_equal(x, y) for y in folded):
                folded.append(x)
        return _constant(folded)

    def run(focus: Collection, env: Env) -> Collection:
        out: Collection = []
        for x in left(focus, env) + right(focus, env):
            if not any(_equal(x, y) for y in out):
                out.append(x)
        return out

    return run


def _arithmetic(node: dict[str, Any]) -> Compiled:
    left, right = (_node(c) for c in node["children"])
    op = node["terminalNodeText"][0]

    def run(focus: Collection, env: Env) -> Collection:
        a, b = left(focus, env), right(focus, env)
        if not a or not b:
            return []
        x, y = a[0], b[0]
        if op == "&" or (op == "+" and isinstance(x, str) and isinstance(y, str)):
            return [str(x) + str(y)]
        if not all(type(v) in (int, float) for v in (x, y)):
            raise NeedsFullEngine("arithmetic outside numbers")
        if op == "+":
            return [x + y]
        if op == "-":
            return [x - y]
        if op == "*":
            return [x * y]
        if op == "mod":
            return [] if y == 0 else [x % y]
        if op == "div":
            return [] if y == 0 else [x // y]
        if op == "/":
            return [] if y == 0 else [x / y]
        raise NeedsFullEngine(op)

    return run


def _function(functn: dict[str, Any]) -> Compiled:
    name = _identifier(functn["children"][0])
    params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    args = [_node(p) for p in params]
    builder = _FUNCTIONS.get(name)
    if builder is None:
        raise Unsupported(f"{name}()")
    return builder(args)


def _arg(argument: Compiled, env: Env) -> Collection:
    """A function's arguments are evaluated against $this, not against the function's input."""
    return argument([env["this"]], env)


def _with_this(criteria: Compiled, item: Any, env: Env) -> Collection:
    inner = dict(env)
    inner["this"] = item
    return criteria([item], inner)


def _where(args: list[Compiled]) -> Compiled:
    (criteria,) = args
    return lambda focus, env: [x for x in focus if _truth(_with_this(criteria, x, env)) is True]


def _all(args: list[Compiled]) -> Compiled:
    (criteria,) = args
    return lambda focus, env: [all(_truth(_with_this(criteria, x, env)) is True for x in focus)]


def _exists(args: list[Compiled]) -> Compiled:
    if args:
        where = _where(args)
        return lambda focus, env: [bool(where(focus, env))]
    return lambda focus, _env: [bool(focus)]


def _single_string(focus: Collection) -> str | None:
    if not focus:
        return None
    if len(focus) > 1 or not isinstance(focus[0], str):
        raise NeedsFullEngine("string function on a non-string")
    return focus[0]


def _matches(args: list[Compiled]) -> Compiled:
    (pattern,) = args

    def run(focus: Collection, env: Env) -> Collection:
        text, regex = _single_string(focus), _single_string(_arg(pattern, env))
        if text is None or regex is None:
            return []
        return [re.search(regex, text) is not None]

    return run


def _substring(args: list[Compiled]) -> Compiled:
    def run(focus: Collection, env: Env) -> Collection:
        text = _single_string(focus)
        start = _arg(args[0], env)
        if text is None or not start or start[0] >= len(text) or start[0] < 0:
            return []
        if len(args) > 1:
            length = _arg(args[1], env)
            return [text[start[0] : start[0] + length[0]]] if length else []
        return [text[start[0] :]]

    return run


def _to_integer(_args: list[Compiled]) -> Compiled:
    def run(focus: Collection, _env: Env) -> Collection:
        if not focus:
            return []
        value = focus[0]
        if type(value) is int:
            return [value]
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
            return [int(value)]
        if type(value) is bool:
            return [int(value)]
        return []

    return run


def _iif(args: list[Compiled]) -> Compiled:
    def run(focus: Collection, env: Env) -> Collection:
        if _truth(_arg(args[0], env)) is True:
            return _arg(args[1], env)
        return _arg(args[2], env) if len(args) > 2 else []

    return run


def _intersect(args: list[Compiled]) -> Compiled:
    (other,) = args

    def run(focus: Collection, env: Env) -> Collection:
        pool = _arg(other, env)
        out: Collection = []
        for x in focus:
            if any(_equal(x, y) for y in pool) and not any(_equal(x, y) for y in out):
                out.append(x)
        return out

    return run


def _simple(fn: Callable[[Collection], Collection]) -> Callable[[list[Compiled]], Compiled]:
    def build(args: list[Compiled]) -> Compiled:
        if args:
            raise Unsupported("arguments")
        return lambda focus, _env: fn(focus)

    return build


def _starts_with(args: list[Compiled]) -> Compiled:
    (prefix,) = args

    def run(focus: Collection, env: Env) -> Collection:
        text, start = _single_string(focus), _single_string(_arg(prefix, env))
        return [] if text is None or start is None else [text.startswith(start)]

    return run


def _not(focus: Collection) -> Collection:
    value = _truth(focus)
    return [] if value is None else [not value]


_FUNCTIONS: dict[str, Callable[[list[Compiled]], Compiled]] = {
    "where": _where,
    "all": _all,
    "exists": _exists,
    "empty": _simple(lambda focus: [not focus]),
    "not": _simple(_not),
    "count": _simple(lambda focus: [len(focus)]),
    "first": _simple(lambda focus: focus[:1]),
    "hasValue": _simple(lambda focus: [len(focus) == 1 and not isinstance(focus[0], (dict, list))]),
    "length": _simple(lambda focus: [len(s)] if (s := _single_string(focus)) is not None else []),
    "matches": _matches,
    "substring": _substring,
    "toInteger": _to_integer,
    "iif": _iif,
    "intersect": _intersect,
    "startsWith": _starts_with,
}

_HANDLERS: dict[str, Callable[[dict[str, Any]], Compiled]] = {
    "EntireExpression": _only_child,
    "TermExpression": _only_child,
    "ParenthesizedTerm": _only_child,
    "InvocationTerm": _invocation_term,
    "InvocationExpression": _invocation_expression,
    "ExternalConstantTerm": _external_constant,
    "LiteralTerm": _literal,
    "AndExpression": _logic,
    "OrExpression": _logic,
    "ImpliesExpression": _logic,
    "EqualityExpression": _equality,
    "InequalityExpression": _inequality,
    "MembershipExpression": _membership,
    "UnionExpression": _union,
    "AdditiveExpression": _arithmetic,
    "MultiplicativeExpression": _arithmetic,
}
