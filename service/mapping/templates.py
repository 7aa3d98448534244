"""FHIRPath Mapping Language templates compiled once into closures.

fpml's `resolve_template` interprets the template tree on every call: for each of the ~2,000
nodes of a mapping it re-runs the regular expressions that recognise `{% for %}`, `{% if %}`,
`{% assign %}`, `{% merge %}` and `{{ }}` keys, then walks its own output a second time. That is
20-30 ms a record, two orders of magnitude off the 2,000 records/s a core must map. This module
reads the template once, with fpml's own patterns, and builds a closure per node, so a run only
evaluates expressions and assembles output.

fpml stays the specification: the semantics below follow fpml.core.extract (undefined drops a
key or list item, lists flatten, empty lists and objects vanish, `{{+ }}` keeps a null, an
`{% if %}` beside other keys merges into them, `{% assign %}` binds in order), and a test
resolves every mapping with both and requires identical output. One deliberate difference:
fpml walks the values an expression returns as more template, so record text containing
"{{ }}" would be evaluated; here returned values are never re-read as template.
"""

import re
from collections.abc import Callable
from typing import Any

from fpml import FPMLValidationError

Expression = Callable[[Any, dict[str, Any]], list[Any]]
CompileExpression = Callable[[str], Expression]
Resolver = Callable[[Any, dict[str, Any]], Any]

UNDEFINED: Any = object()

# fpml.core.extract's patterns, so a template means the same to both.
_ARRAY = re.compile(r"{\[\s*([\s\S]+?)\s*\]}")
_SINGLE = re.compile(r"{{\+?\s*([\s\S]+?)\s*\+?}}")
_CONTEXT = re.compile(r"{{\s*(.+?)\s*}}")
_FOR = re.compile(r"{%\s*for\s+(?:(\w+?)\s*,\s*)?(\w+?)\s+in\s+(.+?)\s*%}")
_IF = re.compile(r"{%\s*if\s+(.+?)\s*%}")
_ELSE = re.compile(r"{%\s*else\s*%}")
_ASSIGN = re.compile(r"{%\s*assign\s*%}")
_MERGE = re.compile(r"{%\s*merge\s*%}")


def compile_template(template: Any, compile_expression: CompileExpression) -> Resolver:
    """A function (resource, context) -> output, equal to fpml.resolve_template(resource, template, context).

    compile_expression turns FHIRPath text into a function (resource, variables) -> collection:
    the same job as fpml's `evaluate`, split so each expression is looked up once, at compile time.
    """
    body = _Compiler(compile_expression).node(template, "")

    def resolve(resource: Any, context: dict[str, Any]) -> Any:
        result = body(resource, {"context": resource, **context})
        return None if result is UNDEFINED else result

    return resolve


def _has_template(node: Any) -> bool:
    if isinstance(node, str):
        return "{{" in node or "{[" in node or "{%" in node
    if isinstance(node, dict):
        return any(_has_template(k) or _has_template(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_template(v) for v in node)
    return False


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, list):
            out.extend(_flatten(item))
        else:
            out.append(item)
    return out


def _as_list(results: list[Any]) -> Any:
    kept = _flatten([r for r in results if r is not UNDEFINED])
    return kept or UNDEFINED


class _Compiler:
    def __init__(self, compile_expression: CompileExpression) -> None:
        self._compile = compile_expression

    def _expression(self, expression: str, path: str) -> Expression:
        compiled = self._compile(expression)

        def run(resource: Any, context: dict[str, Any]) -> list[Any]:
            # No copy of the variables per call (fpml makes one): compiled expressions never write to them.
            try:
                return compiled(resource, context)
            except Exception as exc:
                raise FPMLValidationError(f"Cannot evaluate '{expression}': {exc}", path.split(".")) from exc

        return run

    def node(self, node: Any, path: str) -> Resolver:
        if not _has_template(node):
            # Literal sub-trees (codings, profiles, request methods) are resolved once and
            # shared by every output: callers must not mutate output in place.
            value = self._resolve_literal(node, path)
            return lambda _resource, _context: value
        if isinstance(node, dict):
            return self._object(node, path)
        if isinstance(node, list):
            return self._list(node, path)
        if isinstance(node, str):
            return self._string(node, path)
        return lambda _resource, _context: node

    def _resolve_literal(self, node: Any, path: str) -> Any:
        if isinstance(node, dict):
            return self._object_body(node, path)(None, {})
        if isinstance(node, list):
            return self._list(node, path)(None, {})
        return node

    def _list(self, node: list[Any], path: str) -> Resolver:
        items = [self.node(item, f"{path}.{i}") for i, item in enumerate(node)]
        return lambda resource, context: _as_list([item(resource, context) for item in items])

    def _string(self, node: str, path: str) -> Resolver:
        array = _ARRAY.match(node)
        if array:
            run = self._expression(array.group(1), path)
            return lambda resource, context: _as_list(run(resource, context))
        matches = list(_SINGLE.finditer(node))
        if not matches:
            return lambda _resource, _context: node
        parts = [(m.group(0), m.group(0).startswith("{{+"), self._expression(m.group(1), path)) for m in matches]
        if len(parts) == 1 and parts[0][0] == node:
            _, keep_null, run = parts[0]
            missing = None if keep_null else UNDEFINED

            def whole(resource: Any, context: dict[str, Any]) -> Any:
                found = run(resource, context)
                return found[0] if found else missing

            return whole

        def interpolate(resource: Any, context: dict[str, Any]) -> Any:
            result = node
            for text, keep_null, run in parts:
                found = run(resource, context)
                if not found:
                    return None if keep_null else UNDEFINED
                result = result.replace(text, str(found[0]))
            return result

        return interpolate

    def _object(self, node: dict[str, Any], path: str) -> Resolver:
        assign_key = next((k for k in node if _ASSIGN.match(k)), None)
        if assign_key is None:
            return self._object_body(node, path)
        bindings = node[assign_key]
        if isinstance(bindings, dict) and len(bindings) == 1:
            bindings = [bindings]
        if not isinstance(bindings, list) or any(len(b) != 1 for b in bindings):
            raise FPMLValidationError("Assign block must accept array or object of single keys", path.split("."))
        compiled = [(name, self.node(value, f"{path}.{name}")) for b in bindings for name, value in b.items()]
        body = self._object_body({k: v for k, v in node.items() if k != assign_key}, path)

        def assign(resource: Any, context: dict[str, Any]) -> Any:
            scope = dict(context)
            for name, value in compiled:
                result = value(resource, scope)
                scope[name] = None if result is UNDEFINED else result
            return body(resource, scope)

        return assign

    def _object_body(self, node: dict[str, Any], path: str) -> Resolver:
        keys = list(node)
        context_key = next((k for k in keys if _CONTEXT.match(k)), None)
        if context_key is not None:
            return self._context_block(node, context_key, path)
        merge_key = next((k for k in keys if _MERGE.match(k)), None)
        if merge_key is not None:
            return self._merge_block(node, merge_key, path)
        for_key = next((k for k in keys if _FOR.match(k)), None)
        if for_key is not None:
            return self._for_block(node, for_key, path)
        if any(_IF.match(k) for k in keys):
            return self._if_block(node, path)
        fields = [(k, self.node(v, f"{path}.{k}")) for k, v in node.items()]

        def build(resource: Any, context: dict[str, Any]) -> Any:
            out = {}
            for key, value in fields:
                result = value(resource, context)
                if result is not UNDEFINED:
                    out[key] = result
            return out or UNDEFINED

        return build

    def _context_block(self, node: dict[str, Any], key: str, path: str) -> Resolver:
        if len(node) > 1:
            raise FPMLValidationError("Context block must be presented as single key", path.split("."))
        match = _CONTEXT.match(key)
        assert match is not None
        run = self._expression(match.group(1), path)
        body = self.node(node[key], path)
        return lambda resource, context: _as_list([body(answer, context) for answer in run(resource, context)])

    def _for_block(self, node: dict[str, Any], key: str, path: str) -> Resolver:
        if len(node) > 1:
            raise FPMLValidationError("For block must be presented as single key", path.split("."))
        match = _FOR.match(key)
        assert match is not None
        index_name, item_name, expression = match.group(1), match.group(2), match.group(3)
        run = self._expression(expression, path)
        body = self.node(node[key], path)

        def loop(resource: Any, context: dict[str, Any]) -> Any:
            results = []
            for index, answer in enumerate(run(resource, context)):
                scope = {**context, item_name: answer}
                if index_name:
                    scope[index_name] = index
                results.append(body(resource, scope))
            return _as_list(results)

        return loop

    def _if_block(self, node: dict[str, Any], path: str) -> Resolver:
        if_keys = [k for k in node if _IF.match(k)]
        else_keys = [k for k in node if _ELSE.match(k)]
        if len(if_keys) > 1 or len(else_keys) > 1:
            raise FPMLValidationError("If/else block must be presented once", path.split("."))
        if_key, else_key = if_keys[0], (else_keys[0] if else_keys else None)
        match = _IF.match(if_key)
        assert match is not None
        condition = self._expression(f"iif({match.group(1)}, true, false)", path)
        then = self.node(node[if_key], path)
        otherwise = self.node(node[else_key], path) if else_key else None
        rest = {k: v for k, v in node.items() if k not in (if_key, else_key)}
        siblings = self._object_body(rest, path) if rest else None

        def choose(resource: Any, context: dict[str, Any]) -> Any:
            answer = condition(resource, context)
            if answer and answer[0]:
                chosen = then(resource, context)
            else:
                chosen = otherwise(resource, context) if otherwise else UNDEFINED
            if siblings is None:
                return chosen
            if chosen is not UNDEFINED and chosen is not None and not isinstance(chosen, dict):
                raise FPMLValidationError(
                    "If/else block must return object for implicit merge into existing node", path.split(".")
                )
            base = siblings(resource, context)
            merged = {**(base if isinstance(base, dict) else {}), **(chosen if isinstance(chosen, dict) else {})}
            return merged or UNDEFINED

        return choose

    def _merge_block(self, node: dict[str, Any], key: str, path: str) -> Resolver:
        values = node[key] if isinstance(node[key], list) else [node[key]]
        parts = [self.node(v, path) for v in values]
        rest = {k: v for k, v in node.items() if k != key}
        base = self._object_body(rest, path) if rest else None

        def merge(resource: Any, context: dict[str, Any]) -> Any:
            out = base(resource, context) if base else {}
            out = dict(out) if isinstance(out, dict) else {}
            for part in parts:
                result = part(resource, context)
                if result is UNDEFINED or result is None:
                    continue
                if not isinstance(result, dict):
                    raise FPMLValidationError("Merge block must contain object", path.split("."))
                out.update(result)
            return out or UNDEFINED

        return merge
