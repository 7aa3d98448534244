"""Search parameter expressions turned into functions from a resource dict to its values.

fhirpathpy costs tens of microseconds per evaluation and an Observation has thirty-odd
parameters, so the common shapes — dotted paths, choice types with `as`, `where(system='x')`,
`where(resolve() is Type)` — are compiled to plain dict walks. Anything else falls back to
fhirpathpy, compiled once. Both give the same values (tests/search/test_paths.py checks it).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

from service.search.registry import split_union

Evaluator = Callable[[dict[str, Any]], list[Any]]

_MODEL = models["r4"]
_PATH_TYPES: dict[str, str] = _MODEL["path2Type"]
_CHOICES: dict[str, list[str]] = _MODEL["choiceTypePaths"]
_ELSEWHERE: dict[str, str] = _MODEL["pathsDefinedElsewhere"]

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>!=|[().=]))"
)
_RESOLVE_IS = re.compile(r"resolve\(\)\s+is\s+([A-Za-z]+)")


def compile_expression(expression: str, res_type: str) -> Evaluator:
    """The fastest correct evaluator for an expression narrowed to res_type."""
    fast = compile_walker(expression, res_type)
    return fast if fast is not None else compile_fhirpath(expression)


def compile_fhirpath(expression: str) -> Evaluator:
    """fhirpathpy, with `resolve() is T` (which it cannot run) answered from the reference text."""
    rewritten = _RESOLVE_IS.sub(
        lambda m: f"(reference.startsWith('{m[1]}/') or reference.contains('/{m[1]}/'))",
        expression,
    )
    compiled = fhirpathpy.compile(rewritten, _MODEL)

    def evaluate(resource: dict[str, Any]) -> list[Any]:
        return list(compiled(resource, {}))

    return evaluate


def reference_is(reference: object, res_type: str) -> bool:
    """`resolve() is T` without resolving: does the reference text name a T?"""
    return isinstance(reference, str) and (
        reference.startswith(res_type + "/") or f"/{res_type}/" in reference
    )


# --- the walker -------------------------------------------------------------------------------

Step = Callable[[list[Any]], list[Any]]


class _Unsupported(Exception):
    """The expression needs real FHIRPath."""


def compile_walker(expression: str, res_type: str) -> Evaluator | None:
    """A dict walk equivalent to the expression, or None when it is beyond the subset."""
    try:
        branches = [_compile_branch(b, res_type) for b in split_union(expression)]
    except _Unsupported:
        return None
    if len(branches) == 1:
        only = branches[0]
        return lambda resource: _run(only, [resource])

    def evaluate(resource: dict[str, Any]) -> list[Any]:
        values: list[Any] = []
        for steps in branches:
            values.extend(_run(steps, [resource]))
        return values

    return evaluate


def _run(steps: list[Step], nodes: list[Any]) -> list[Any]:
    for step in steps:
        if not nodes:
            return nodes
        nodes = step(nodes)
    return nodes


@dataclass
class _Position:
    """Where the walk is in the FHIR model, so that choice elements can be recognised."""

    path: str
    type: str | None
    choice: str | None = None  # element name when the last step was a choice element


class _Parser:
    def __init__(self, text: str, res_type: str) -> None:
        self.tokens = _tokenise(text)
        self.index = 0
        self.res_type = res_type

    def peek(self, offset: int = 0) -> str | None:
        at = self.index + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _Unsupported
        self.index += 1
        return token

    def expect(self, token: str) -> None:
        if self.take() != token:
            raise _Unsupported


def _tokenise(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _Unsupported
        tokens.append(match.group().strip())
        position = match.end()
    return tokens


def _compile_branch(text: str, res_type: str) -> list[Step]:
    parser = _Parser(text, res_type)
    steps, _ = _parse_path(parser)
    if parser.peek() is not None:
        raise _Unsupported
    return steps


def _parse_path(parser: _Parser) -> tuple[list[Step], _Position]:
    if parser.peek() == "(":
        parser.take()
        steps, position = _parse_path(parser)
        parser.expect(")")
    else:
        if parser.take() != parser.res_type:
            raise _Unsupported
        steps, position = [], _Position(parser.res_type, parser.res_type)
    while (token := parser.peek()) is not None and token != ")":
        if token == ".":
            parser.take()
            name = parser.take()
            if parser.peek() == "(":
                _parse_function(parser, name, steps, position)
            else:
                _field(steps, position, name)
        elif token == "as":
            parser.take()
            _as_type(steps, position, parser.take())
        else:
            raise _Unsupported
    return steps, position


def _parse_function(parser: _Parser, name: str, steps: list[Step], position: _Position) -> None:
    parser.expect("(")
    if name in ("as", "ofType"):
        _as_type(steps, position, parser.take())
    elif name == "where":
        steps.append(_parse_condition(parser))
        position.choice = None
    else:
        raise _Unsupported
    parser.expect(")")


def _parse_condition(parser: _Parser) -> Step:
    first = parser.take()
    if first == "resolve":
        parser.expect("(")
        parser.expect(")")
        if parser.take() != "is":
            raise _Unsupported
        target = parser.take()
        return lambda nodes: [
            n for n in nodes if isinstance(n, dict) and reference_is(n.get("reference"), target)
        ]
    parser.expect("=")
    literal = parser.take()
    if not literal.startswith("'"):
        raise _Unsupported
    wanted = literal[1:-1]
    return lambda nodes: [n for n in nodes if isinstance(n, dict) and n.get(first) == wanted]


def _field(steps: list[Step], position: _Position, name: str) -> None:
    candidates = [f"{position.path}.{name}"]
    if position.type:
        candidates.append(f"{position.type}.{name}")
    for candidate in candidates:
        if candidate in _ELSEWHERE:
            steps.append(_descend(name))
            _move(position, _ELSEWHERE[candidate], None)
            return
        if candidate in _CHOICES:
            keys = [name + choice for choice in _CHOICES[candidate]]
            steps.append(_descend_any(keys))
            _move(position, candidate, None, choice=name)
            return
        if candidate in _PATH_TYPES:
            steps.append(_descend(name))
            _move(position, candidate, _PATH_TYPES[candidate])
            return
    steps.append(_descend(name))
    _move(position, candidates[0], None)


def _move(position: _Position, path: str, type_: str | None, choice: str | None = None) -> None:
    position.path, position.type, position.choice = path, type_, choice


def _as_type(steps: list[Step], position: _Position, type_name: str) -> None:
    """`x as T` on a choice element reads the one JSON key `xT`; elsewhere it is not handled."""
    if position.choice is None:
        raise _Unsupported
    suffix = type_name[0].upper() + type_name[1:]
    steps[-1] = _descend(position.choice + suffix)
    _move(position, suffix, suffix)


def _collect(node: dict[str, Any], name: str, out: list[Any]) -> None:
    """The element's values into out: a list's items one by one, absent and null left out."""
    value = node.get(name)
    if value is None:
        return
    if type(value) is list:
        out.extend(v for v in value if v is not None)
    else:
        out.append(value)


def _descend(name: str) -> Step:
    def step(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if type(node) is dict:
                _collect(node, name, out)
        return out

    return step


def _descend_any(names: list[str]) -> Step:
    def step(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if type(node) is dict:
                for name in names:
                    _collect(node, name, out)
        return out

    return step
