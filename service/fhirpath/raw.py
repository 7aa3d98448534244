"""Pure paths compiled to walks over the raw JSON, for Compiled.evaluate's hot callers.

Search indexing evaluates thirty-odd expressions per resource, nearly all of them paths such as
`Observation.code`, `(Observation.value as Quantity)`, `Patient.telecom.where(system='email')`
or `Observation.subject.where(resolve() is Patient)`. Their types are known when compiling, so
they need no typed nodes at run time: this compiles them, using the same TypeModel, to plain
dict walks that return what the general evaluation returns (tests/fhirpath/test_raw.py runs
both over every search expression and the guide's examples). Anything else returns None here
and runs the general way.
"""

from collections.abc import Callable
from typing import Any

from service.fhirpath.compiler import dotted_name, identifier_text, literal_value
from service.fhirpath.model import PRIMITIVES, Child, TypeModel

RawWalk = Callable[[list[Any], dict[str, Any]], list[Any]]  # (values, root resource) -> values


class _NotPure(Exception):
    pass


class _Position:
    """What the walk knows statically: one typed element, or a choice of several."""

    def __init__(self, path: str | None, fhir_type: str | None, choices: tuple[Child, ...] = ()) -> None:
        self.path = path
        self.type = fhir_type
        self.choices = choices


def compile_raw(tree: dict[str, Any], model: TypeModel) -> Callable[[Any], list[Any] | None] | None:
    """The walk, or None when the expression is not a pure path. The walk answers None for a
    root that is not a FHIR resource (its names are JSON keys then, not typed elements)."""
    node = tree["children"][0]
    if node["type"] == "EntireExpression":
        node = node["children"][0]
    try:
        walk = _expression(node, model)
    except _NotPure:
        return None

    def run(resource: Any) -> list[Any] | None:
        if type(resource) is not dict or "resourceType" not in resource:
            return None
        return walk([resource], resource)

    return run


def _expression(node: dict[str, Any], model: TypeModel) -> RawWalk:
    kind = node["type"]
    if kind == "UnionExpression":
        left, right = (_expression(c, model) for c in node["children"])
        return lambda values, root: _distinct(left(values, root) + right(values, root))
    walk, _ = _path(node, model)
    return walk


def _path(node: dict[str, Any], model: TypeModel) -> tuple[RawWalk, _Position]:
    kind = node["type"]
    if kind in ("TermExpression", "ParenthesizedTerm") and node["children"][0]["type"] != "InvocationTerm":
        return _path(node["children"][0], model)
    if kind == "TermExpression":
        return _root(node["children"][0]["children"][0], model)
    if kind == "InvocationExpression":
        walk, position = _path(node["children"][0], model)
        step = node["children"][1]
        if step["type"] == "MemberInvocation":
            return _member(walk, position, identifier_text(step["children"][0]), model)
        if step["type"] == "FunctionInvocation":
            return _function(walk, position, step["children"][0], model)
        raise _NotPure
    if kind == "TypeExpression" and node["terminalNodeText"][0] == "as":
        walk, position = _path(node["children"][0], model)
        return _as(walk, position, dotted_name(node["children"][1]), model)
    raise _NotPure


def _root(node: dict[str, Any], model: TypeModel) -> tuple[RawWalk, _Position]:
    if node["type"] != "MemberInvocation":
        raise _NotPure
    name = identifier_text(node["children"][0])
    if not model.is_resource(name):
        raise _NotPure

    def root(values: list[Any], _root: dict[str, Any]) -> list[Any]:
        return [
            v
            for v in values
            if type(v) is dict and (v.get("resourceType") == name or _is_a(v.get("resourceType"), name, model))
        ]

    return root, _Position(name, name)


def _is_a(resource_type: Any, name: str, model: TypeModel) -> bool:
    return isinstance(resource_type, str) and (resource_type == name or model.is_subtype(resource_type, name))


def _member(walk: RawWalk, position: _Position, name: str, model: TypeModel) -> tuple[RawWalk, _Position]:
    if position.choices or position.path is None or position.type in PRIMITIVES:
        raise _NotPure  # a member of a choice or of a primitive needs the typed evaluation
    children = model.children(position.path, name)
    if children is None or any(c.type == "Resource" for c in children):
        raise _NotPure
    keys = [c.key for c in children]
    step = _descend(keys[0]) if len(keys) == 1 else _descend_any(keys)
    following = _Position(children[0].path, children[0].type) if len(children) == 1 else _Position(None, None, children)
    return _then(walk, step), following


def _as(walk: RawWalk, position: _Position, spec: str, model: TypeModel) -> tuple[RawWalk, _Position]:
    namespace, _, name = spec.rpartition(".")
    if namespace not in ("", "FHIR") or not model.is_type(name):
        raise _NotPure
    if not position.choices:
        raise _NotPure  # `as` on a single type: rare in paths, left to the typed evaluation
    matching = [c for c in position.choices if _type_matches(c.type, name, model)]
    if len(matching) != 1:
        raise _NotPure
    child = matching[0]
    # the walk so far read every choice key; narrow its last step to the one key
    return _then(_drop_last(walk), _descend(child.key)), _Position(child.path, child.type)


def _type_matches(fhir_type: str | None, name: str, model: TypeModel) -> bool:
    if fhir_type is None:
        return False
    if fhir_type in PRIMITIVES or name in PRIMITIVES:
        return fhir_type == name
    return fhir_type == name or model.is_subtype(fhir_type, name)


def _function(
    walk: RawWalk, position: _Position, functn: dict[str, Any], model: TypeModel
) -> tuple[RawWalk, _Position]:
    name = identifier_text(functn["children"][0])
    params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    if name in ("as", "ofType") and len(params) == 1:
        return _as(walk, position, dotted_name(params[0]), model)
    if name == "where" and len(params) == 1 and not position.choices and position.path is not None:
        return _then(walk, _where(params[0], position, model)), position
    raise _NotPure


def _where(criteria: dict[str, Any], position: _Position, model: TypeModel) -> RawWalk:
    """`where(resolve() is T)` and `where(element = 'text')`, the two filters search paths use."""
    if criteria["type"] == "TypeExpression" and criteria["terminalNodeText"][0] == "is":
        source = criteria["children"][0]
        if _is_call(source, "resolve") and position.type == "Reference":
            target = dotted_name(criteria["children"][1]).rpartition(".")[2]
            return lambda values, root: [v for v in values if _refers_to(v, target, root, model)]
    if criteria["type"] == "EqualityExpression" and criteria["terminalNodeText"][0] == "=":
        element, literal = criteria["children"]
        member = _simple_member(element)
        value = _string_literal(literal)
        if member is not None and value is not None:
            children = model.children(position.path or "", member)
            if children and len(children) == 1 and PRIMITIVES.get(children[0].type or "") == "String":
                return lambda values, _root: [v for v in values if type(v) is dict and v.get(member) == value]
    raise _NotPure


def _is_call(node: dict[str, Any], name: str) -> bool:
    try:
        invocation = node["children"][0]["children"][0]
        functn = invocation["children"][0]
        return (
            invocation["type"] == "FunctionInvocation"
            and identifier_text(functn["children"][0]) == name
            and len(functn["children"]) == 1
        )
    except (KeyError, IndexError):
        return False


def _simple_member(node: dict[str, Any]) -> str | None:
    if node["type"] != "TermExpression" or node["children"][0]["type"] != "InvocationTerm":
        return None
    invocation = node["children"][0]["children"][0]
    if invocation["type"] != "MemberInvocation":
        return None
    return identifier_text(invocation["children"][0])


def _string_literal(node: dict[str, Any]) -> str | None:
    if node["type"] != "TermExpression" or node["children"][0]["type"] != "LiteralTerm":
        return None
    literal = node["children"][0]["children"][0]
    return literal_value(literal) if literal["type"] == "StringLiteral" else None


def _refers_to(value: Any, target: str, root: dict[str, Any], model: TypeModel) -> bool:
    """What resolve() is T answers (functions._resolve): a contained resource or Bundle entry by
    its own type, any other reference by the type its text names."""
    if type(value) is not dict:
        return False
    reference = value.get("reference")
    if not isinstance(reference, str):
        return False
    if reference.startswith("#"):
        for resource in root.get("contained") or []:
            if isinstance(resource, dict) and resource.get("id") == reference[1:]:
                return _is_a(resource.get("resourceType"), target, model)
        return False
    for entry in root.get("entry") or []:
        if isinstance(entry, dict) and entry.get("fullUrl") == reference and isinstance(entry.get("resource"), dict):
            return _is_a(entry["resource"].get("resourceType"), target, model)
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return len(parts) >= 2 and parts[-2][:1].isupper() and _is_a(parts[-2], target, model)


# --- member chains over records that are not FHIR ------------------------------------------------

UntypedWalk = Callable[[Any, Any], list[Any] | None]  # (resource, variables) -> values, None: not here


def compile_untyped(tree: dict[str, Any]) -> UntypedWalk | None:
    """`%record.Visit.Date` or `Visit.Date`: a chain of member names from a variable or the focus.
    Over JSON without resourceType the typed evaluation reads each name as a key, so this walks
    the keys; the moment it meets a FHIR resource (which the model would type) it returns None
    and the typed evaluation runs instead."""
    node = tree["children"][0]
    if node["type"] == "EntireExpression":
        node = node["children"][0]
    names: list[str] = []
    while node["type"] == "InvocationExpression" and node["children"][1]["type"] == "MemberInvocation":
        names.append(identifier_text(node["children"][1]["children"][0]))
        node = node["children"][0]
    if node["type"] != "TermExpression":
        return None
    term = node["children"][0]
    variable: str | None = None
    if term["type"] == "ExternalConstantTerm":
        constant = term["children"][0]
        if not constant.get("children") or constant["children"][0]["type"] != "Identifier":
            return None
        variable = identifier_text(constant["children"][0])
        if variable in ("resource", "rootResource", "context", "ucum", "sct", "loinc"):
            return None
    elif term["type"] == "InvocationTerm" and term["children"][0]["type"] == "MemberInvocation":
        names.append(identifier_text(term["children"][0]["children"][0]))
    else:
        return None
    names.reverse()
    if not names and variable is None:
        return None

    def walk(resource: Any, variables: Any) -> list[Any] | None:
        if variable is None:
            values: Any = resource
        else:
            if variables is None or variable not in variables:
                return None  # undefined: the typed evaluation raises
            values = variables[variable]
        values = [v for v in values if v is not None] if type(values) is list else ([] if values is None else [values])
        for name in names:
            found: list[Any] = []
            for value in values:
                if type(value) is not dict or "resourceType" in value or ("_" + name) in value:
                    return None
                child = value.get(name)
                if child is None:
                    continue
                if type(child) is list:
                    found.extend(c for c in child if c is not None)
                else:
                    found.append(child)
            values = found
            if not values:
                break
        if names and any(type(v) is dict and "resourceType" in v for v in values):
            return None
        if any(type(v) is float for v in values):
            return None  # the typed evaluation reads a JSON float as a Decimal
        return values

    return walk


# --- walks ----------------------------------------------------------------------------------------


def _then(first: RawWalk, second: RawWalk) -> RawWalk:
    return _chained([*getattr(first, "steps", [first]), second])


def _drop_last(walk: RawWalk) -> RawWalk:
    steps = getattr(walk, "steps", None)
    if not steps or len(steps) < 2:
        raise _NotPure
    return _chained(steps[:-1])


def _chained(steps: list[RawWalk]) -> RawWalk:
    """One walk through steps in turn, stopping once nothing is left; it keeps its steps so a
    later _then or _drop_last can extend or shorten it."""

    def walk(values: list[Any], root: dict[str, Any]) -> list[Any]:
        for step in steps:
            if not values:
                return values
            values = step(values, root)
        return values

    walk.steps = steps  # type: ignore[attr-defined]
    return walk


def _descend(key: str) -> RawWalk:
    def step(values: list[Any], _root: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for value in values:
            if type(value) is dict:
                found = value.get(key)
                if found is None:
                    continue
                if type(found) is list:
                    out.extend(v for v in found if v is not None)
                else:
                    out.append(found)
        return out

    return step


def _descend_any(keys: list[str]) -> RawWalk:
    def step(values: list[Any], _root: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for value in values:
            if type(value) is dict:
                for key in keys:
                    found = value.get(key)
                    if found is None:
                        continue
                    if type(found) is list:
                        out.extend(v for v in found if v is not None)
                    else:
                        out.append(found)
        return out

    return step


def _distinct(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if not any(type(value) is type(seen) and value == seen for seen in out):
            out.append(value)
    return out
