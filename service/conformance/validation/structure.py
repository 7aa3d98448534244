"""Base structure through the fhir.resources R4B models, as issues rather than an exception."""

from typing import Any

from service.conformance.issues import InvalidResource, Issue
from service.conformance.parse import check_structure


def structure_issues(resource: dict[str, Any]) -> list[Issue]:
    try:
        check_structure(resource)
    except InvalidResource as invalid:
        return list(invalid.issues)
    except (KeyError, ValueError) as exc:
        rtype = resource.get("resourceType")
        return [Issue("error", "structure", f"resourceType {rtype!r} is not a FHIR R4 resource: {exc}", "resourceType")]
    return []
