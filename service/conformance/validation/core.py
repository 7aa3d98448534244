"""The R4 core validator: structure, strict JSON, primitive formats, cardinality, required
bindings, extensions and every constraint of the R4 core definitions (service/conformance/r4).

Each type compiles once to a TypeNode whose fields map a JSON key straight to its checker, so a
validation is one walk over the instance with no lookups of definitions. Issues that make the
document malformed (unknown element, wrong JSON type, bad format, cardinality) go to
ctx.structure: a write refuses those with 400. Constraints, bindings and extensions go to
ctx.issues: 422.
"""

import base64
import binascii
import datetime
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.conformance.issues import Issue
from service.conformance.r4 import CoreDefinitions, core_definitions
from service.conformance.validation.elements import Context, ElementRule, apply_to_items
from service.conformance.validation.invariants import compile_invariant

Check = Callable[[Any, str, str, Context], None]  # value, instance path, element path, ctx
# UK Core and NHS England extensions: Dyad's guide builds on them but does not carry their package.
_UNCHECKED_NAMESPACES = ("https://fhir.hl7.org.uk/StructureDefinition/", "https://fhir.nhs.uk/StructureDefinition/")
# Extensions of other guides that Dyad implements, with the contexts those guides give them: the
# R4 Subscriptions Backport's payload content is how a Subscription asks for full resources.
_IMPLEMENTED = {
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content": frozenset(
        {"Subscription.channel.payload"}
    ),
}
_RESOURCE_ROOTS = frozenset({"Resource", "DomainResource"})
_NOT_EVALUABLE = ("htmlChecks", "conformsTo(", "memberOf(", "resolve()", "descendants().as(")
_JSON_KIND = {
    "boolean": "a JSON boolean (true or false)",
    "integer": "a JSON number without a fraction",
    "decimal": "a JSON number",
    "string": "a JSON string",
}
_FORMS = {
    "date": "YYYY, YYYY-MM or YYYY-MM-DD",
    "dateTime": "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss(.sss)+zz:zz (a time needs a zone)",
    "instant": "YYYY-MM-DDThh:mm:ss(.sss)+zz:zz or Z",
    "time": "hh:mm:ss(.sss)",
    "id": "1 to 64 letters, digits, '-' or '.'",
    "code": "no leading or trailing space and no double spaces",
    "uri": "a URI without spaces",
    "url": "a URL without spaces",
    "canonical": "a canonical URL without spaces",
    "oid": "urn:oid:1.2.3...",
    "uuid": "urn:uuid: followed by a lower-case UUID",
    "positiveInt": "an integer of 1 or more",
    "unsignedInt": "an integer of 0 or more",
    "integer": "a 32-bit integer",
    "base64Binary": "base64 (RFC 4648) characters",
    "string": "a non-empty string",
    "markdown": "a non-empty string",
}


@dataclass(slots=True)
class ExtensionUse:
    """Where an extension may sit, and (Dyad's own) the rule its content meets."""

    contexts: frozenset[str]
    rule: ElementRule | None = None


@dataclass(slots=True)
class Field:
    key: str  # JSON key
    name: str  # element name as defined: 'value[x]'
    is_list: bool
    check: Check
    primitive: bool
    group: int = -1  # choice group, when the element is a choice
    element_suffix: str = ""  # '.value[x]' appended to the parent's element path


@dataclass(slots=True)
class TypeNode:
    name: str  # type name, or the element path of a backbone element
    is_resource: bool = False
    fields: dict[str, Field] = field(default_factory=dict)
    required: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    max_counts: list[tuple[str, int]] = field(default_factory=list)
    groups: list[tuple[str, ...]] = field(default_factory=list)
    invariants: list[Any] = field(default_factory=list)
    special: Callable[[dict[str, Any], str, Context], None] | None = None


@functools.cache
def shared_core(best_practice: bool = False) -> "CoreValidator":
    """The one compiled R4 core per process (its constraints compile lazily, on first use)."""
    return CoreValidator(core_definitions(), best_practice=best_practice)


class CoreValidator:
    def __init__(self, definitions: CoreDefinitions, *, best_practice: bool = False) -> None:
        self.definitions = definitions
        self.best_practice = best_practice
        self.not_evaluated: set[str] = set()
        self.extensions: dict[str, ExtensionUse] = {
            url: ExtensionUse(frozenset(expr for _kind, expr in contexts if expr))
            for url, contexts in definitions.extensions.items()
        }
        self.extensions.update({url: ExtensionUse(contexts) for url, contexts in _IMPLEMENTED.items()})
        self.nodes: dict[str, TypeNode] = {}
        self.primitives: dict[str, Check] = {}
        types = definitions.types
        for name, spec in types.items():
            if spec["kind"] == "primitive-type":
                self.primitives[name] = self._primitive(name, spec, None)
        for name, spec in types.items():
            if spec["kind"] != "primitive-type":
                self.nodes[name] = TypeNode(name, spec["kind"] == "resource", special=_SPECIAL.get(name))
        for name, spec in types.items():
            if spec["kind"] != "primitive-type":
                self._fill(name, spec)

    # --- compiling ---------------------------------------------------------------------

    def _fill(self, type_name: str, spec: dict[str, Any]) -> None:
        nodes: dict[str, TypeNode] = {"": self.nodes[type_name]}
        self.nodes[type_name].invariants = self._invariants(spec.get("constraints") or [], type_name)
        for row in spec["elements"]:
            path = row["p"]
            parent_path, _, name = path.rpartition(".")
            parent = nodes.get(parent_path)
            if parent is None:
                continue  # below an element this walk does not enter
            full = f"{type_name}.{path}"
            check: Callable[..., None]
            if "ref" in row:
                check = functools.partial(self.check_object, nodes.get(row["ref"]))
                self._add_field(parent, name, name, row, check, primitive=False)
                continue
            types = row["t"]
            if len(types) == 1 and types[0] in ("BackboneElement", "Element") and "." not in name:
                child = TypeNode(full)
                child.invariants = self._invariants(row.get("c") or [], full)
                nodes[path] = child
                self._add_field(parent, name, name, row, functools.partial(self.check_object, child), primitive=False)
                continue
            invariants = self._invariants(row.get("c") or [], full)
            if name.endswith("[x]"):
                stem = name[:-3]
                group = len(parent.groups)
                keys = tuple(stem + t[0].upper() + t[1:] for t in types)
                parent.groups.append(keys)
                for key, t in zip(keys, types, strict=False):
                    check = self._typed_check(t, row, invariants)
                    self._add_field(parent, key, name, row, check, t in self.primitives, group)
            else:
                t = types[0] if types else "string"
                check = self._typed_check(t, row, invariants)
                self._add_field(parent, name, name, row, check, t in self.primitives)

    def _add_field(
        self, parent: TypeNode, key: str, name: str, row: dict[str, Any], check: Check, primitive: bool, group: int = -1
    ) -> None:
        maximum = row["max"]
        is_list = maximum != "1" and maximum != "0"
        parent.fields[key] = Field(key, name, is_list, check, primitive, group, "." + name)
        if row["min"] >= 1 and (group < 0 or key == parent.groups[group][0]):
            keys = parent.groups[group] if group >= 0 else (key,)
            parent.required.append((name, keys + tuple("_" + k for k in keys)))
        if maximum not in ("*", "1", "0"):
            parent.max_counts.append((key, int(maximum)))
        if maximum == "0":
            parent.fields[key] = Field(key, name, False, _prohibited, primitive, group)

    def _invariants(self, indexes: list[int], base: str) -> list[Any]:
        compiled: list[Any] = []
        for index in indexes:
            key, severity, human, expression, best = self.definitions.constraints[index]
            if any(marker in expression for marker in _NOT_EVALUABLE) and key != "dom-3":
                self.not_evaluated.add(key)
                continue
            if best and not self.best_practice:
                continue  # best-practice rules (dom-6) only where DYAD asks for them
            native = _NATIVE.get(key)
            if native is not None:
                compiled.append(_Native(key, severity, human, native))
                continue
            compiled.append(
                _Lazy({"key": key, "severity": severity, "human": human, "expression": expression}, base, compiled)
            )
        return compiled

    def _typed_check(self, type_name: str, row: dict[str, Any], invariants: list[Any]) -> Check:
        if type_name in self.primitives:
            spec = self.definitions.types[type_name]
            return self._primitive(type_name, spec, row.get("vs"))
        if type_name == "Resource":
            return self._any_resource
        node = self.nodes.get(type_name)
        binding = self._coding_binding(type_name, row.get("vs"))
        if invariants or binding:

            def check(value: Any, path: str, element: str, ctx: Context) -> None:
                self.check_object(node, value, path, element, ctx)
                if type(value) is dict:
                    for invariant in invariants:
                        invariant(value, path, ctx)
                    if binding is not None:
                        binding(value, path, ctx)

            return check
        return functools.partial(self.check_object, node)

    def _primitive(self, type_name: str, spec: dict[str, Any], valueset: str | None) -> Check:
        kind = spec.get("json", "string")
        pattern = _pattern(type_name, spec.get("regex"))
        codes = self.definitions.codes(valueset) if valueset else None
        allowed = frozenset(c for values in codes.values() for c in values) if codes else None
        form = _FORMS.get(type_name)
        extra = _EXTRA_CHECKS.get(type_name)
        described = self.definitions.describe(valueset) if valueset else ""

        def check(value: Any, path: str, element: str, ctx: Context) -> None:
            t = type(value)
            if kind == "string":
                ok = t is str
            elif kind == "boolean":
                ok = t is bool
            elif kind == "integer":
                ok = t is int
            else:
                ok = t is int or t is float
            if not ok:
                ctx.structure.append(
                    _issue(
                        "structure", f"{path}: a {type_name} must be {_JSON_KIND[kind]}, not {_json_name(value)}", path
                    )
                )
                return
            if pattern is not None and not pattern.fullmatch(value if t is str else _number_text(value)):
                hint = f"; expected {form}" if form else ""
                ctx.structure.append(_issue("value", f"{path}: {_show(value)} is not a valid {type_name}{hint}", path))
                return
            if extra is not None and (problem := extra(value)):
                ctx.structure.append(_issue("value", f"{path}: {problem}", path))
                return
            if allowed is not None and value not in allowed:
                ctx.report("error", "code-invalid", f"{path}: '{value}' is not allowed; use {described}", path)

        return check

    def _coding_binding(self, type_name: str, valueset: str | None) -> Callable[[Any, str, Context], None] | None:
        if valueset is None or type_name not in ("Coding", "CodeableConcept"):
            return None
        codes = self.definitions.codes(valueset)
        if codes is None:
            return None
        pairs = frozenset((system, code) for system, values in codes.items() for code in values)
        described = self.definitions.describe(valueset)

        def check(value: dict[str, Any], path: str, ctx: Context) -> None:
            codings = [value] if type_name == "Coding" else value.get("coding") or []
            codings = [c for c in codings if type(c) is dict and "code" in c]
            if codings and not any((c.get("system"), c.get("code")) in pairs for c in codings):
                shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in codings)
                ctx.report("error", "code-invalid", f"{path}: {shown} is not allowed; use {described}", path)

        return check

    # --- walking -----------------------------------------------------------------------

    def validate(self, resource: Any, ctx: Context) -> None:
        """Issues of one resource (a dict with resourceType), into ctx."""
        res_type = resource.get("resourceType")
        self._any_resource(resource, res_type if type(res_type) is str else "Resource", "", ctx)

    def _any_resource(self, value: Any, path: str, _element: str, ctx: Context) -> None:
        if type(value) is not dict:
            ctx.structure.append(
                _issue("structure", f"{path}: expected a resource (a JSON object), not {_json_name(value)}", path)
            )
            return
        res_type = value.get("resourceType")
        node = self.nodes.get(res_type) if isinstance(res_type, str) else None
        if (
            node is None
            or not isinstance(res_type, str)
            or not node.is_resource
            or self.definitions.types[res_type].get("abstract")
        ):
            ctx.structure.append(
                _issue("structure", f"{path}: resourceType {res_type!r} is not a FHIR R4 resource type", path)
            )
            return
        if path == res_type:
            self.check_object(node, value, path, res_type, ctx)
            return
        outer = ctx.root
        if not path.endswith("]") or ".contained[" not in path[path.rfind(".") :]:
            ctx.root = value  # %resource inside a Bundle entry is the entry's resource
        try:
            self.check_object(node, value, path, res_type, ctx)
        finally:
            ctx.root = outer

    def check_object(self, node: TypeNode | None, value: Any, path: str, element: str, ctx: Context) -> None:
        if node is None:
            return
        if type(value) is not dict:
            ctx.structure.append(_issue("structure", f"{path}: expected a JSON object, not {_json_name(value)}", path))
            return
        if not value:
            ctx.structure.append(
                _issue(
                    "invariant", f"{path}: ele-1: an empty object; FHIR elements must have a value or children", path
                )
            )
            return
        fields = node.fields
        seen_groups: dict[int, str] | None = None
        for key, item in value.items():
            spec = fields.get(key)
            if spec is None:
                if key[:1] == "_" and key[1:] in fields:
                    # Extension contexts name elements by type (HumanName.given), not by where the
                    # datatype sits in this resource (Patient.name.given).
                    self._primitive_extension(
                        fields[key[1:]], value.get(key[1:]), item, f"{path}.{key}", node.name, ctx
                    )
                elif key == "resourceType" and node.is_resource:
                    pass
                else:
                    ctx.structure.append(
                        _issue("structure", f"{path}: unknown element '{key}' in {node.name}", f"{path}.{key}")
                    )
                continue
            where = f"{path}.{key}"
            if spec.group >= 0:
                if seen_groups is None:
                    seen_groups = {}
                other = seen_groups.get(spec.group)
                if other is not None:
                    ctx.structure.append(
                        _issue("structure", f"{path}: only one of {other} and {key} may be given ({spec.name})", where)
                    )
                seen_groups[spec.group] = key
            if key == "extension" or key == "modifierExtension":
                self._extensions(item, where, element, node, ctx)
                continue
            if item is None:
                ctx.structure.append(_issue("structure", f"{where}: null is not allowed; leave the element out", where))
            elif spec.is_list:
                if type(item) is not list:
                    ctx.structure.append(
                        _issue("structure", f"{where}: must be a JSON array (the element repeats)", where)
                    )
                    spec.check(item, where, element + spec.element_suffix, ctx)
                elif not item:
                    ctx.structure.append(
                        _issue("invariant", f"{where}: ele-1: an empty array; leave the element out", where)
                    )
                else:
                    child_element = element + spec.element_suffix
                    for index, entry in enumerate(item):
                        at = f"{where}[{index}]"
                        if entry is None:
                            ctx.structure.append(
                                _issue("structure", f"{at}: null is not allowed in an array of {spec.name}", at)
                            )
                        else:
                            spec.check(entry, at, child_element, ctx)
            elif type(item) is list:
                ctx.structure.append(
                    _issue(
                        "structure",
                        f"{where}: must be a single value, not an array ({spec.name} does not repeat)",
                        where,
                    )
                )
            else:
                spec.check(item, where, element + spec.element_suffix, ctx)
        for name, keys in node.required:
            for k in keys:
                if k in value:
                    break
            else:
                ctx.structure.append(
                    _issue(
                        "required",
                        f"{path}: {name} is required (minimum cardinality 1)",
                        f"{path}.{name.replace('[x]', '')}",
                    )
                )
        for key, maximum in node.max_counts:
            items = value.get(key)
            if type(items) is list and len(items) > maximum:
                ctx.structure.append(
                    _issue("structure", f"{path}.{key}: at most {maximum} allowed, {len(items)} given", f"{path}.{key}")
                )
        for invariant in node.invariants:
            invariant(value, path, ctx)
        if node.special is not None:
            node.special(value, path, ctx)

    def _primitive_extension(self, spec: Field, base: Any, item: Any, path: str, element: str, ctx: Context) -> None:
        if not spec.primitive:
            ctx.structure.append(
                _issue("structure", f"{path}: '{spec.key}' is not a primitive element, so it has no '_' part", path)
            )
            return
        element_node = self.nodes["Element"]
        child_element = element + spec.element_suffix
        if spec.is_list:
            if type(item) is not list:
                ctx.structure.append(_issue("structure", f"{path}: must be an array, matching {spec.key}", path))
                return
            if type(base) is list and len(item) != len(base):
                ctx.structure.append(
                    _issue(
                        "structure",
                        f"{path}: has {len(item)} entries but {spec.key} has {len(base)}; "
                        "the two arrays must be the same length (pad with null)",
                        path,
                    )
                )
            elif base is None and any(entry is None for entry in item):
                ctx.structure.append(
                    _issue("structure", f"{path}: a null entry with no {spec.key} value beside it", path)
                )
            for index, entry in enumerate(item):
                if entry is not None:
                    self.check_object(element_node, entry, f"{path}[{index}]", child_element, ctx)
        else:
            self.check_object(element_node, item, path, child_element, ctx)

    def _extensions(self, items: Any, path: str, element: str, owner: TypeNode, ctx: Context) -> None:
        if type(items) is not list or not items:
            ctx.structure.append(_issue("structure", f"{path}: must be a non-empty JSON array", path))
            return
        extension_node = self.nodes["Extension"]
        modifier = path.endswith("modifierExtension")
        for index, extension in enumerate(items):
            at = f"{path}[{index}]"
            if type(extension) is not dict:
                ctx.structure.append(_issue("structure", f"{at}: an extension must be a JSON object", at))
                continue
            url = extension.get("url")
            self.check_object(
                extension_node, extension, at, f"Extension:{url}" if isinstance(url, str) else "Extension", ctx
            )
            has_value = any(k.startswith("value") for k in extension)
            if has_value == ("extension" in extension):
                ctx.report(
                    "error",
                    "invariant",
                    f"{at}: ext-1: an extension has either a value[x] or extensions, not both or neither",
                    at,
                )
            if isinstance(url, str) and ":" in url:
                self._extension_use(url, extension, at, element, owner, modifier, ctx)

    def _extension_use(
        self,
        url: str,
        extension: dict[str, Any],
        path: str,
        element: str,
        owner: TypeNode,
        modifier: bool,
        ctx: Context,
    ) -> None:
        canonical = url.split("|", 1)[0]
        use = ctx.extensions.get(canonical) or self.extensions.get(canonical)
        if use is None and canonical.startswith(_UNCHECKED_NAMESPACES):
            return  # accepted unchecked, as before: docs/validation.md says so
        if use is None:
            kind = "modifier extension" if modifier else "extension"
            ctx.report(
                "error",
                "extension",
                f"{path}: {url} is not a known {kind}: it is not defined by FHIR R4 "
                "or the Dyad guide, so it cannot be checked or allowed",
                path,
            )
            return
        if use.contexts and not _in_context(element, owner, use.contexts):
            ctx.report(
                "error",
                "structure",
                f"{path}: {url} may be used on {', '.join(sorted(use.contexts))}, not on {_context_name(element)}",
                path,
            )
        if use.rule is not None:
            apply_to_items(use.rule, [(extension, path)], ctx)


def _in_context(element: str, owner: TypeNode, contexts: frozenset[str]) -> bool:
    if "Element" in contexts or element in contexts:
        return True
    if element.startswith("Extension:"):
        return "Extension" in contexts or element[10:] in contexts
    if owner.is_resource and (contexts & _RESOURCE_ROOTS):
        return True
    if owner.name in contexts:  # a datatype's own name (HumanName, Coding) or a backbone path
        return True
    return "BackboneElement" in contexts and "." in owner.name


def _context_name(element: str) -> str:
    return "an extension " + element[10:] if element.startswith("Extension:") else element


def _prohibited(value: Any, path: str, element: str, ctx: Context) -> None:
    ctx.structure.append(_issue("structure", f"{path}: this element is not allowed here (maximum cardinality 0)", path))


def _issue(code: str, message: str, expression: str) -> Issue:
    return Issue("error", code, message, expression)


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return f"the boolean {str(value).lower()}"
    if type(value) in (int, float):
        return f"the number {value}"
    if type(value) is str:
        return f"the string {_show(value)}"
    if type(value) is list:
        return "an array"
    return "an object"


def _show(value: Any) -> str:
    text = repr(value) if type(value) is str else str(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _number_text(value: Any) -> str:
    return str(value).lower() if type(value) is bool else str(value)


def _pattern(type_name: str, regex: str | None) -> re.Pattern[str] | None:
    if type_name in ("base64Binary", "decimal", "boolean"):
        return None  # base64 by decoding (R4's regex omits '/'); numbers by their JSON type
    return re.compile(regex) if regex else None


def _base64_problem(value: str) -> str | None:
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return "not valid base64 (RFC 4648: A-Z a-z 0-9 + / and = padding, length a multiple of 4)"
    return None


def _date_problem(value: str) -> str | None:
    if len(value) >= 10:
        try:
            datetime.date.fromisoformat(value[:10])
        except ValueError:
            return f"{value[:10]} is not a calendar date"
    return None


def _integer_problem(value: int) -> str | None:
    return (
        None if -2_147_483_648 <= value <= 2_147_483_647 else f"{value} is outside the 32-bit range of a FHIR integer"
    )


_EXTRA_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "base64Binary": _base64_problem,
    "date": _date_problem,
    "dateTime": _date_problem,
    "instant": _date_problem,
    "integer": _integer_problem,
    "positiveInt": _integer_problem,
    "unsignedInt": _integer_problem,
}


def _attachment(value: dict[str, Any], path: str, ctx: Context) -> None:
    data, size = value.get("data"), value.get("size")
    if type(data) is str and type(size) is int and _base64_problem(data) is None:
        actual = len(base64.b64decode("".join(data.split())))
        if actual != size:
            ctx.report(
                "error", "value", f"{path}.size: {size} does not match the {actual} bytes of data", f"{path}.size"
            )


def _bundle(value: dict[str, Any], path: str, ctx: Context) -> None:
    links = [link for link in value.get("link") or [] if type(link) is dict and link.get("relation") == "self"]
    if len(links) > 1:
        ctx.report(
            "error",
            "invariant",
            f"{path}.link: at most one link with relation 'self' ({len(links)} given)",
            f"{path}.link",
        )
    for index, entry in enumerate(value.get("entry") or []):
        full_url = entry.get("fullUrl") if type(entry) is dict else None
        if type(full_url) is str and not _ABSOLUTE.match(full_url):
            at = f"{path}.entry[{index}].fullUrl"
            ctx.report(
                "error",
                "value",
                f"{at}: '{full_url}' must be an absolute URL (http(s)://..., urn:uuid:... or urn:oid:...)",
                at,
            )


def _narrative(value: dict[str, Any], path: str, ctx: Context) -> None:
    div = value.get("div")
    if type(div) is str and not (div.startswith("<div") and "http://www.w3.org/1999/xhtml" in div[:200]):
        ctx.report(
            "error",
            "invariant",
            f"{path}.div: must be an XHTML <div> in the namespace http://www.w3.org/1999/xhtml",
            f"{path}.div",
        )


class _Lazy:
    """A FHIRPath constraint compiled on first use (most of R4's types never occur in a run),
    which then puts the compiled form in its own place in the list it sits in."""

    __slots__ = ("constraint", "base", "owner")

    def __init__(self, constraint: dict[str, str], base: str, owner: list[Any]) -> None:
        self.constraint, self.base, self.owner = constraint, base, owner

    def __call__(self, value: Any, path: str, ctx: Context) -> None:
        try:
            compiled = compile_invariant(self.constraint, self.base) or _never
        except Exception:
            compiled = _never
            ctx.report(
                "warning",
                "not-supported",
                f"{path}: {self.constraint['key']} could not be compiled, so it was not checked",
                path,
            )
        self.owner[self.owner.index(self)] = compiled
        compiled(value, path, ctx)


def _never(value: Any, path: str, ctx: Context) -> None:
    del value, path, ctx


class _Native:
    """A constraint whose meaning is checked directly on the JSON: hot (ref-1 on every Reference)
    or beyond the FHIRPath engine (dom-3's descendants().as(canonical))."""

    __slots__ = ("key", "severity", "human", "holds")

    def __init__(self, key: str, severity: str, human: str, holds: Callable[[dict[str, Any], Context], bool]) -> None:
        self.key, self.severity, self.human, self.holds = key, severity, human, holds

    def __call__(self, value: Any, path: str, ctx: Context) -> None:
        if type(value) is dict and not self.holds(value, ctx):
            ctx.report(self.severity, "invariant", f"{path}: {self.key}: {self.human}", path)


def _ref_1(value: dict[str, Any], ctx: Context) -> bool:
    reference = value.get("reference")
    if type(reference) is not str or not reference.startswith("#") or reference == "#":
        return True
    return any(type(c) is dict and c.get("id") == reference[1:] for c in ctx.root.get("contained") or [])


def _local_pointers(node: Any, found: set[str]) -> None:
    """Every string of the form '#...' anywhere: Reference.reference, canonical and uri alike."""
    if type(node) is dict:
        for value in node.values():
            if type(value) is str:
                if value[:1] == "#":
                    found.add(value)
            elif type(value) is dict or type(value) is list:
                _local_pointers(value, found)
    elif type(node) is list:
        for value in node:
            if type(value) is str:
                if value[:1] == "#":
                    found.add(value)
            else:
                _local_pointers(value, found)


def _dom_3(value: dict[str, Any], ctx: Context) -> bool:
    contained = [c for c in value.get("contained") or [] if type(c) is dict]
    if not contained:
        return True
    pointers: set[str] = set()
    _local_pointers({k: v for k, v in value.items() if k != "contained"}, pointers)
    points_home = []
    for resource in contained:
        inner: set[str] = set()
        _local_pointers(resource, inner)
        pointers |= inner
        points_home.append("#" in inner)
    return all(
        home or f"#{resource.get('id')}" in pointers for resource, home in zip(contained, points_home, strict=False)
    )


def _per_1(value: dict[str, Any], ctx: Context) -> bool:
    start, end = value.get("start"), value.get("end")
    if type(start) is not str or type(end) is not str:
        return True
    if len(start) == len(end) and (len(start) <= 10 or start[19:] == end[19:]):
        return start <= end  # same precision and zone: the text orders as the instant does
    try:
        return _instant(start, low=True) <= _instant(end, low=False)
    except ValueError:
        return True  # the format check reports the malformed one


def _instant(text: str, *, low: bool) -> datetime.datetime:
    """The earliest (or latest) instant a partial dateTime can mean, in UTC (no zone: UTC)."""
    if len(text) > 10:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    parts = [int(p) for p in text.split("-")]
    year, month = parts[0], parts[1] if len(parts) > 1 else (1 if low else 12)
    if len(parts) == 3:
        day = datetime.datetime(year, month, parts[2], tzinfo=datetime.UTC)
        return day if low else day + datetime.timedelta(days=1, microseconds=-1)
    if low:
        return datetime.datetime(year, month, 1, tzinfo=datetime.UTC)
    following = datetime.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=datetime.UTC)
    return following - datetime.timedelta(microseconds=1)


_NATIVE: dict[str, Callable[[dict[str, Any], Context], bool]] = {
    "ref-1": _ref_1,
    "dom-3": _dom_3,
    "per-1": _per_1,
}
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_SPECIAL: dict[str, Callable[[dict[str, Any], str, Context], None]] = {
    "Attachment": _attachment,
    "Bundle": _bundle,
    "Narrative": _narrative,
}
