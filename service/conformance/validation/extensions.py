"""One walk over the instance for what can sit anywhere: extensions and empty elements.

Every extension is looked up by url: one the package defines is held to its definition (value
type, binding, cardinality) and its context; a base FHIR or UK Core one is accepted as is; an
unknown one is a warning on `extension` and an error on `modifierExtension` (which changes
meaning and must not be ignored), and always an error inside Dyad's own namespace, where the
package is the complete list.
"""

from dataclasses import dataclass
from typing import Any

from service.conformance.validation.elements import Context, ElementRule, apply_to_items

DYAD_NAMESPACE = "https://w3id.org/dyad/fhir/"
KNOWN_ELSEWHERE = (
    "http://hl7.org/fhir/StructureDefinition/",
    "https://fhir.hl7.org.uk/StructureDefinition/",
    "https://fhir.nhs.uk/StructureDefinition/",
)


@dataclass(frozen=True, slots=True)
class ExtensionDefinition:
    url: str
    rule: ElementRule
    contexts: frozenset[str]  # element paths the extension may sit on ('Observation', 'CarePlan.activity')


@dataclass(slots=True)
class InstanceWalk:
    extensions: dict[str, ExtensionDefinition]

    def run(self, resource: dict[str, Any], ctx: Context) -> None:
        self._object(resource, resource.get("resourceType", "Resource"), resource.get("resourceType", ""), ctx)

    def _object(self, value: dict[str, Any], path: str, element: str, ctx: Context) -> None:
        if not value:
            ctx.report("error", "invariant", f"ele-1: {path} is empty; all FHIR elements must have a value or children", path)
            return
        for key, child in value.items():
            if key in ("extension", "modifierExtension"):
                self._extensions(child, key, path, element, ctx)
                continue
            if key == "div" or key == "resourceType":
                continue
            child_element = key[1:] if key.startswith("_") else key
            self._any(child, f"{path}.{key}", f"{element}.{child_element}", ctx, key == "contained")

    def _any(self, value: Any, path: str, element: str, ctx: Context, contained: bool = False) -> None:
        if value is None:
            ctx.report("error", "structure", f"{path} is null; FHIR JSON has no nulls outside primitive arrays", path)
        elif isinstance(value, dict):
            if contained:
                element = value.get("resourceType", element)
            self._object(value, path, element, ctx)
        elif isinstance(value, list):
            if not value:
                ctx.report("error", "invariant", f"ele-1: {path} is an empty array", path)
            for index, item in enumerate(value):
                if item is None and path.rsplit(".", 1)[-1].startswith("_"):
                    continue  # nulls pad primitive-extension arrays
                self._any(item, f"{path}[{index}]", element, ctx, contained)

    def _extensions(self, value: Any, key: str, path: str, element: str, ctx: Context) -> None:
        if not isinstance(value, list):
            return
        for index, extension in enumerate(value):
            where = f"{path}.{key}[{index}]"
            if not isinstance(extension, dict):
                continue
            self._one_extension(extension, key, where, element, ctx)
            nested = {k: v for k, v in extension.items() if k != "extension"}
            self._object(nested, where, f"{element}.{key}", ctx)
            if "extension" in extension:
                self._extensions(extension["extension"], "extension", where, "Extension", ctx)

    def _one_extension(self, extension: dict[str, Any], key: str, path: str, element: str, ctx: Context) -> None:
        has_value = any(k.startswith("value") for k in extension)
        if has_value == ("extension" in extension):
            ctx.report("error", "invariant", "ext-1: Must have either extensions or value[x], not both", path)
        url = extension.get("url")
        if not isinstance(url, str):
            return
        definition = self.extensions.get(url)
        if definition is not None:
            if definition.contexts and not _in_context(element, definition.contexts):
                ctx.report("error", "structure",
                           f"{url} may be used on {', '.join(sorted(definition.contexts))}, not on {element}", path)
            apply_to_items(definition.rule, [(extension, path)], ctx)
            return
        if url.startswith(DYAD_NAMESPACE):
            ctx.report("error", "extension", f"{url} is not an extension defined in the Dyad guide", path)
        elif not url.startswith(KNOWN_ELSEWHERE):
            severity = "error" if key == "modifierExtension" else "warning"
            ctx.report(severity, "extension", f"{url} is not a known extension; it was not checked", path)


def _in_context(element: str, contexts: frozenset[str]) -> bool:
    return element in contexts or bool({"Element", "Resource", "DomainResource"} & contexts)
