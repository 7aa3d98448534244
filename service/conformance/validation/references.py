"""Which resource types a Reference may point at, from targetProfile."""

from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from service.conformance.validation.elements import Context


def _is_resource_type(name: str) -> bool:
    if not name[:1].isupper():
        return False
    try:
        get_fhir_model_class(name)
    except (KeyError, ValueError):
        return False
    return True


def target_type(reference: dict[str, Any], root: dict[str, Any]) -> str | None:
    """The referenced resource's type when the reference says it; None when it can't be told."""
    literal = reference.get("reference")
    if isinstance(literal, str):
        if literal.startswith("#"):
            wanted = literal[1:]
            for contained in root.get("contained") or []:
                if isinstance(contained, dict) and contained.get("id") == wanted:
                    return contained.get("resourceType")
            return None
        if not literal.startswith(("urn:uuid:", "urn:oid:")):
            parts = literal.split("/_history/")[0].split("/")
            if len(parts) >= 2 and _is_resource_type(parts[-2]):
                return parts[-2]
    declared = reference.get("type")
    return declared if isinstance(declared, str) else None


@dataclass(frozen=True, slots=True)
class ReferenceTargets:
    allowed: frozenset[str]  # resource types ('Resource' allows any)
    profiles: tuple[str, ...]

    def __call__(self, value: Any, path: str, ctx: Context) -> None:
        if not isinstance(value, dict) or "Resource" in self.allowed:
            return
        found = target_type(value, ctx.root)
        if found is None:
            if isinstance(value.get("reference"), str) and value["reference"].startswith("#"):
                ctx.report(
                    "error",
                    "structure",
                    f"{path} points at contained resource {value['reference']}, which is not there",
                    path,
                )
            return
        if found not in self.allowed:
            ctx.report(
                "error",
                "structure",
                f"{path} refers to a {found}, but the profile allows only "
                f"{', '.join(sorted(self.allowed))} ({', '.join(self.profiles)})",
                path,
            )
