"""Navigation, equality, comparison and arithmetic over FHIRPath collections."""

from collections.abc import Callable
from decimal import Decimal, DivisionByZero, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from service.fhirpath.model import PRIMITIVES, Child, TypeModel
from service.fhirpath.values import (
    FHIRPathError,
    Node,
    Quantity,
    Temporal,
    add_duration,
    compare_quantity,
    compare_temporal,
    multiply_units,
    quantity_base,
    system,
    to_base_quantity,
    to_decimal,
    type_name,
)

if TYPE_CHECKING:
    from service.fhirpath.compiler import Context

Collection = list[Any]

# --- navigation -----------------------------------------------------------------------------------


def wrap_root(resource: Any) -> Any:
    """The evaluation's root as a node: typed when it is a FHIR resource."""
    if type(resource) is dict:
        resource_type = resource.get("resourceType")
        if isinstance(resource_type, str):
            return Node(resource, resource_type, resource_type)
        return Node(resource, None, None)
    if type(resource) is float:
        return to_decimal(resource)
    return resource


def typed_node(value: Any, element_path: str | None, model: TypeModel) -> Any:
    """A value found at an element path (Goal.target, Patient.identifier) as a typed node."""
    if type(value) is Node:
        return value
    if element_path is None or (type(value) is dict and "resourceType" in value):
        return wrap_root(value)
    fhir_type, path = _element_type(element_path, model)
    return Node(value, fhir_type, path)


@lru_cache(maxsize=4096)
def _element_type(element_path: str, model: TypeModel) -> tuple[str | None, str | None]:
    steps = element_path.split(".")
    fhir_type: str | None = steps[0]
    path: str | None = steps[0]
    for name in steps[1:]:
        children = model.children(path, name.removesuffix("[x]")) if path is not None else None
        if not children or len(children) > 1:
            return None, None  # unknown, or a choice whose type only the JSON key tells
        fhir_type, path = children[0].type, children[0].path
    return fhir_type, path


Reader = Callable[[Any, Node, Collection], bool]  # appends an item's children; True: a typed miss


def member_step(name: str) -> Callable[[Collection, "Context"], Collection]:
    """Navigation to `name`. How to read it off each parent type is worked out once per type and
    kept as a small reader; a compiled expression always runs with one model and one
    strictness, so the cache is safe."""
    readers: dict[str | None, Reader] = {}

    def step(focus: Collection, ctx: "Context") -> Collection:
        out: Collection = []
        misses = 0
        for item in focus:
            if type(item) is not Node:
                continue
            value = item.value
            if type(value) is dict:
                reader = readers.get(item.path)
                if reader is None:
                    reader = readers[item.path] = _reader(ctx, item.path, name)
                if reader(value, item, out):
                    misses += 1
            elif item.ext is not None and name in ("id", "extension"):
                _primitive_child(out, item.ext, name)
        if misses and ctx.strict and misses == len(focus):
            # a semantic error: no item of the focus's types has such an element
            raise FHIRPathError(f"no element '{name}' on {_type_of(focus[0])}")
        return out

    return step


def _reader(ctx: "Context", path: str | None, name: str) -> Reader:
    children = _resolve_children(ctx, path, name)
    if children is None:
        return _untyped_reader(ctx, path, name)
    if len(children) == 1 and children[0].type != "Resource":
        return _single_reader(children[0])
    return _choice_reader(children)


def _single_reader(child: Child) -> Reader:
    key, ext_key, child_type, child_path = child.key, child.ext_key, child.type, child.path

    def read(value: dict[str, Any], _item: Node, out: Collection) -> bool:
        raw = value.get(key)
        if raw is None:
            ext = value.get(ext_key)
            if ext is not None:
                _add(out, None, child_type, child_path, ext)
        elif type(raw) is list:
            ext = value.get(ext_key)
            if ext is None:
                out.extend([Node(entry, child_type, child_path) for entry in raw if entry is not None])
            else:
                _add(out, raw, child_type, child_path, ext)
        elif type(raw) is dict:
            out.append(Node(raw, child_type, child_path))
        else:
            out.append(Node(raw, child_type, child_path, value.get(ext_key)))
        return False

    return read


def _choice_reader(children: tuple[Child, ...]) -> Reader:
    def read(value: dict[str, Any], _item: Node, out: Collection) -> bool:
        for child in children:
            raw = value.get(child.key)
            ext = value.get(child.ext_key) if raw is None or type(raw) is not dict else None
            if raw is not None or ext is not None:
                if child.type == "Resource":
                    _add(out, raw, None, None, None)
                else:
                    _add(out, raw, child.type, child.path, ext)
        return False

    return read


def _untyped_reader(ctx: "Context", path: str | None, name: str) -> Reader:
    """A name the model does not know here: the JSON key as it is (records that are not FHIR,
    unknown paths), a type name matching the item (Patient.name), else nothing."""
    model = ctx.model
    typed_miss = path is not None and model.knows(path) and not _type_name_position(model, name)
    ext_key = "_" + name

    def read(value: dict[str, Any], item: Node, out: Collection) -> bool:
        if name in value or ext_key in value:
            _add(out, value.get(name), None, None, value.get(ext_key))
            return False
        if name[:1].isupper() and item.type is not None and model.is_subtype(item.type, name):
            out.append(item)
            return False
        return typed_miss

    return read


def _resolve_children(ctx: "Context", path: str | None, name: str) -> tuple[Child, ...] | None:
    if path is None:
        return None
    children = ctx.model.children(path, name)
    if children is None:
        children = _json_name(ctx.model, path, name, ctx.strict)
    return children


def _primitive_child(out: Collection, ext: dict[str, Any], name: str) -> None:
    """A primitive's own id and extensions live in its `_name` element."""
    kind = "Extension" if name == "extension" else "string"
    _add(out, ext.get(name), kind, kind, None)


def member(focus: Collection, name: str, ctx: "Context") -> Collection:
    return member_step(name)(focus, ctx)


def _type_of(item: Any) -> str:
    return item.type if type(item) is Node and item.type else "the focus"


def _type_name_position(model: TypeModel, name: str) -> bool:
    """A capitalised name that is a type (Patient.name on an Observation): empty, not an error,
    unless it is a resource type other than the focus's (strict mode reports those)."""
    return name[:1].isupper() and not model.is_resource(name)


def _json_name(model: TypeModel, path: str, name: str, strict: bool) -> tuple[Child, ...] | None:
    """`valueQuantity`: a choice element by its JSON name. Not FHIRPath, so strict mode refuses it;
    Dyad's older expressions use it, so lenient mode reads it with the type it names."""
    for cut in range(len(name) - 1, 0, -1):
        if name[cut].isupper():
            choices = model.children(path, name[:cut])
            if choices is None:
                continue
            for child in choices:
                if child.key == name:
                    if strict:
                        raise FHIRPathError(f"'{name}' is not an element name; use {name[:cut]}.ofType(...)")
                    return (child,)
            return None
    return None


def _add(out: Collection, raw: Any, fhir_type: str | None, path: str | None, ext: Any) -> None:
    if type(raw) is list:
        exts = ext if type(ext) is list else []
        for index, entry in enumerate(raw):
            entry_ext = exts[index] if index < len(exts) else None
            if entry is None and entry_ext is None:
                continue
            out.append(_node(entry, fhir_type, path, entry_ext))
        return
    if raw is None and type(ext) is list:
        for entry_ext in ext:
            if entry_ext is not None:
                out.append(Node(None, fhir_type, path, entry_ext))
        return
    out.append(_node(raw, fhir_type, path, ext))


def _node(raw: Any, fhir_type: str | None, path: str | None, ext: Any) -> Node:
    if type(raw) is dict and (fhir_type is None or fhir_type == "Resource"):
        resource_type = raw.get("resourceType")
        if isinstance(resource_type, str):
            return Node(raw, resource_type, resource_type)
    return Node(raw, fhir_type, path, ext)


def children(focus: Collection, ctx: "Context") -> Collection:
    out: Collection = []
    for item in focus:
        if type(item) is not Node:
            continue
        value = item.value
        if type(value) is not dict:
            if item.ext is not None:
                out.extend(children([Node(item.ext, "Element", "Element")], ctx))
            continue
        seen: set[str] = set()
        for key in value:
            name = key[1:] if key.startswith("_") else key
            if name == "resourceType" or name in seen:
                continue
            seen.add(name)
            found = _child_by_key(ctx.model, item.path, name, value)
            _add(
                out,
                value.get(name),
                found.type if found else None,
                found.path if found else None,
                value.get("_" + name),
            )
    return out


def _child_by_key(model: TypeModel, path: str | None, key: str, value: dict[str, Any]) -> Child | None:
    if path is None:
        return None
    direct = model.children(path, key)
    if direct is not None:
        return next((c for c in direct if c.key == key), None)
    for cut in range(len(key) - 1, 0, -1):
        if key[cut].isupper():
            choices = model.children(path, key[:cut])
            if choices is not None:
                return next((c for c in choices if c.key == key), None)
    return None


# --- singletons and booleans ----------------------------------------------------------------------


def truth(collection: Collection) -> bool | None:
    if not collection:
        return None
    if len(collection) > 1:
        raise FHIRPathError("a boolean was expected, found a collection of several items")
    value = collection[0]
    if type(value) is bool:
        return value
    if type(value) is Node and type(value.value) is bool:
        return value.value
    return True


def single(collection: Collection, what: str = "value") -> Any:
    """The System value of a singleton collection; None when empty; an error for several."""
    if not collection:
        return None
    if len(collection) > 1:
        raise FHIRPathError(f"a single {what} was expected, found {len(collection)}")
    return system(collection[0])


# --- equality -------------------------------------------------------------------------------------

_NUMBERS = (int, Decimal)


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBERS


def item_equal(a: Any, b: Any) -> bool | None:
    a, b = system(a), system(b)
    ta, tb = type(a), type(b)
    if ta is Node or tb is Node:
        if ta is Node and tb is Node:
            return _json_equal(a.value, b.value)
        return False
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta in _NUMBERS and tb in _NUMBERS:
        return a == b
    if ta is str and tb is str:
        return a == b
    if ta is Temporal and tb is Temporal:
        if (a.kind == "Time") != (b.kind == "Time"):
            return False
        result = compare_temporal(a, b)
        return None if result is None else result == 0
    if ta is Quantity and tb is Quantity:
        result = compare_quantity(a, b)
        return None if result is None else result == 0
    return False


def _json_equal(a: Any, b: Any) -> bool:
    if type(a) is float or type(b) is float:
        try:
            return to_decimal(a) == to_decimal(b)
        except (InvalidOperation, TypeError):
            return False
    return a == b


def _normal_text(text: str) -> str:
    return " ".join(text.lower().split())


def item_equivalent(a: Any, b: Any) -> bool:
    a, b = system(a), system(b)
    ta, tb = type(a), type(b)
    if ta is Node or tb is Node:
        return ta is Node and tb is Node and _json_equal(a.value, b.value)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta in _NUMBERS and tb in _NUMBERS:
        if ta is Decimal or tb is Decimal:
            da, db = Decimal(a), Decimal(b)
            places = min(_places(da), _places(db))
            return round(da, places) == round(db, places)
        return a == b
    if ta is str and tb is str:
        return _normal_text(a) == _normal_text(b)
    if ta is Temporal and tb is Temporal:
        if len(a.parts) != len(b.parts) or (a.kind == "Time") != (b.kind == "Time"):
            return False
        return compare_temporal(a, b) == 0
    if ta is Quantity and tb is Quantity:
        left, right = quantity_base(a, True), quantity_base(b, True)
        if left is None or right is None or left[0] != right[0]:
            return False
        places = min(_places(a.value), _places(b.value))
        return round(left[1], places) == round(right[1], places)
    return False


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def equal(left: Collection, right: Collection) -> Collection:
    if not left or not right:
        return []
    if len(left) != len(right):
        return [False]
    unknown = False
    for a, b in zip(left, right, strict=True):
        result = item_equal(a, b)
        if result is False:
            return [False]
        if result is None:
            unknown = True
    return [] if unknown else [True]


def equivalent(left: Collection, right: Collection) -> bool:
    if len(left) != len(right):
        return False
    remaining = list(right)
    for a in left:
        for index, b in enumerate(remaining):
            if item_equivalent(a, b):
                del remaining[index]
                break
        else:
            return False
    return True


def _not_equal(left: Collection, right: Collection) -> Collection:
    result = equal(left, right)
    return [not result[0]] if result else []


EQUALITY: dict[str, Callable[[Collection, Collection], Collection]] = {
    "=": equal,
    "!=": _not_equal,
    "~": lambda left, right: [equivalent(left, right)],
    "!~": lambda left, right: [not equivalent(left, right)],
}


def distinct(items: Collection) -> Collection:
    if len(items) < 2:
        return items
    if all(type(item) is str for item in items):
        return list(dict.fromkeys(items))
    out: Collection = []
    for item in items:
        if not any(item_equal(item, seen) is True for seen in out):
            out.append(item)
    return out


def contains_item(pool: Collection, item: Any) -> bool:
    return any(item_equal(item, candidate) is True for candidate in pool)


def membership(items: Collection, pool: Collection) -> Collection:
    if not items:
        return []
    if len(items) > 1:
        raise FHIRPathError("membership needs a single item")
    return [contains_item(pool, items[0])]


# --- comparison -----------------------------------------------------------------------------------


def compare(a: Any, b: Any) -> int | None:
    ta, tb = type(a), type(b)
    if ta in _NUMBERS and tb in _NUMBERS and ta is not bool and tb is not bool:
        return (a > b) - (a < b)
    if ta is str and tb is str:
        return (a > b) - (a < b)
    if ta is Temporal and tb is Temporal:
        return compare_temporal(a, b)
    if ta is Quantity and tb is Quantity:
        result = compare_quantity(a, b)
        if result is None:
            raise FHIRPathError(f"cannot compare '{a.unit}' with '{b.unit}'")
        return result
    if ta is Quantity and tb in _NUMBERS:
        return None
    raise FHIRPathError(f"cannot compare {type_name(a)} with {type_name(b)}")


def _comparison(test: Callable[[int], bool]) -> Callable[[Collection, Collection], Collection]:
    def run(left: Collection, right: Collection) -> Collection:
        a, b = single(left), single(right)
        if a is None or b is None:
            return []
        result = compare(a, b)
        return [] if result is None else [test(result)]

    return run


COMPARISON: dict[str, Callable[[Collection, Collection], Collection]] = {
    "<": _comparison(lambda r: r < 0),
    ">": _comparison(lambda r: r > 0),
    "<=": _comparison(lambda r: r <= 0),
    ">=": _comparison(lambda r: r >= 0),
}


# --- arithmetic -----------------------------------------------------------------------------------


def _concatenate(left: Collection, right: Collection) -> Collection:
    a, b = single(left), single(right)
    return [("" if a is None else _text(a)) + ("" if b is None else _text(b))]


def _text(value: Any) -> str:
    if type(value) is not str:
        raise FHIRPathError("'&' joins strings")
    return value


def _arithmetic(op: str) -> Callable[[Collection, Collection], Collection]:
    def run(left: Collection, right: Collection) -> Collection:
        a, b = single(left), single(right)
        if a is None or b is None:
            return []
        result = arithmetic(op, a, b)
        return [] if result is None else [result]

    return run


def _number(value: Any) -> Any:
    return value if type(value) is not bool and type(value) in _NUMBERS else None


def arithmetic(op: str, a: Any, b: Any) -> Any:
    if type(a) is float:
        a = to_decimal(a)
    if type(b) is float:
        b = to_decimal(b)
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return _numeric(op, x, y)
    if op == "+" and type(a) is str and type(b) is str:
        return a + b
    if type(a) is Temporal and type(b) is Quantity and op in ("+", "-"):
        return add_duration(a, b, 1 if op == "+" else -1)
    if type(a) is Quantity or type(b) is Quantity:
        return _quantity_arithmetic(op, a, b)
    raise FHIRPathError(f"cannot apply '{op}' to {type_name(a)} and {type_name(b)}")


def _numeric(op: str, x: Any, y: Any) -> Any:
    try:
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            return None if y == 0 else Decimal(x) / Decimal(y)
        if op == "div":
            if y == 0:
                return None
            quotient = Decimal(x) / Decimal(y)
            return int(quotient)
        if op == "mod":
            if y == 0:
                return None
            if type(x) is int and type(y) is int:
                return int(Decimal(x) % Decimal(y))
            return Decimal(x) % Decimal(y)
    except (InvalidOperation, DivisionByZero):
        return None
    raise FHIRPathError(f"unknown operator {op}")


def _quantity_arithmetic(op: str, a: Any, b: Any) -> Any:
    if type(a) is not Quantity:
        a = Quantity(Decimal(a), "1") if _number(a) is not None else a
    if type(b) is not Quantity:
        b = Quantity(Decimal(b), "1") if _number(b) is not None else b
    if type(a) is not Quantity or type(b) is not Quantity:
        raise FHIRPathError(f"cannot apply '{op}' to {type_name(a)} and {type_name(b)}")
    if op in ("+", "-"):
        if a.unit == b.unit:
            return Quantity(a.value + b.value if op == "+" else a.value - b.value, a.unit)
        base_a, base_b = to_base_quantity(a), to_base_quantity(b)
        if base_a.unit != base_b.unit:
            return None
        value = base_a.value + base_b.value if op == "+" else base_a.value - base_b.value
        return Quantity(value, base_a.unit)
    if op in ("*", "/"):
        base_a, base_b = to_base_quantity(a), to_base_quantity(b)
        unit = multiply_units(base_a.unit, base_b.unit, op == "/")
        if unit is None:
            return None
        if op == "/":
            return None if base_b.value == 0 else Quantity(base_a.value / base_b.value, unit)
        return Quantity(base_a.value * base_b.value, unit)
    raise FHIRPathError(f"cannot apply '{op}' to quantities")


ARITHMETIC: dict[str, Callable[[Collection, Collection], Collection]] = {
    "&": _concatenate,
    **{op: _arithmetic(op) for op in ("+", "-", "*", "/", "div", "mod")},
}


def negate(collection: Collection) -> Collection:
    value = single(collection)
    if value is None:
        return []
    if type(value) is float:
        value = to_decimal(value)
    # 0 - x, not -x: Decimal keeps a negative zero's sign, and -0.0 is not what anyone wrote
    if _number(value) is not None:
        return [0 - value]
    if type(value) is Quantity:
        return [Quantity(0 - value.value, value.unit)]
    raise FHIRPathError(f"cannot negate {type_name(value)}")


# --- types ----------------------------------------------------------------------------------------


def is_type(item: Any, spec: str, model: TypeModel, exact_primitive: bool = False) -> bool:
    """`is` (a type or one derived from it); as()/ofType() pass exact_primitive, since the R4
    tests read `gender.as(string)` as empty (a code) though `gender.is(string)` is true."""
    namespace, _, name = spec.rpartition(".")
    known = (namespace != "FHIR" and name in _SYSTEM_TYPES) or (namespace != "System" and model.is_type(name))
    if not known:
        if namespace:
            return False
        raise FHIRPathError(f"unknown type {spec}")
    if type(item) is Node and item.type is not None:
        fhir_type = item.type
        if namespace == "System":
            return False
        if exact_primitive and (fhir_type in PRIMITIVES or name in PRIMITIVES):
            return fhir_type == name
        return fhir_type == name or model.is_subtype(fhir_type, name)
    if namespace == "FHIR" or (not namespace and name not in _SYSTEM_TYPES):
        return False
    return type_name(system(item)) == name or name == "Any"


_SYSTEM_TYPES = frozenset({"Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity", "Any"})


def type_info(item: Any) -> tuple[str, str]:
    """(namespace, name) of an item's type, for type()."""
    if type(item) is Node and item.type is not None:
        return "FHIR", item.type
    return "System", type_name(system(item))
