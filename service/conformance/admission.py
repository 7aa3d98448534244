"""Whether a resource may be stored: structure, base rules, and the Dyad profiles that apply."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import logging

from service import fhirpath
from service.conformance.issues import InvalidResource, Issue
from service.conformance.parse import check_resource
from service.conformance.validation import Validator


log = logging.getLogger("dyad.conformance")


@dataclass(frozen=True)
class RequiredProfile:
    """A profile every resource of its type must meet when `applies` is true of it."""

    url: str
    res_type: str
    applies: Any  # a compiled FHIRPath expression returning a boolean

    def wanted_for(self, resource: dict[str, Any]) -> bool:
        if resource.get("resourceType") != self.res_type:
            return False
        return self.applies(resource) == [True]


class Admission:
    def __init__(self, validator: Validator, required: Mapping[str, str]) -> None:
        self.validator = validator
        self.required = [self._compile(url, condition) for url, condition in required.items()]

    def _compile(self, url: str, condition: str) -> RequiredProfile:
        profile = self.validator.profiles.get(url)
        if profile is None:
            raise ValueError(f"DYAD_REQUIRED_PROFILES names {url}, which profiles/ does not define")
        return RequiredProfile(url, profile.type, fhirpath.compile(condition or "true"))

    def admit(self, document: Any, expected_type: str | None = None) -> dict[str, Any]:
        """The resource, if it may be stored; else InvalidResource (400 structure, 422 rules)."""
        try:
            resource = check_resource(document, expected_type)
        except InvalidResource as broken:
            # Structure failed (400), but say everything else that is wrong too, so a write
            # reports what $validate reports.
            raise InvalidResource(broken.issues + self._further_errors(document, expected_type), status=400) from None
        errors = self._errors(resource)
        if errors:
            raise InvalidResource(errors, status=422)
        return resource

    def _further_errors(self, document: Any, expected_type: str | None) -> list[Issue]:
        """Rule errors of a resource already refused for its structure: best effort only, since the
        rules were written for well-formed resources and a malformed one may trip them."""
        if not isinstance(document, dict) or document.get("resourceType") != (expected_type or document.get("resourceType")):
            return []
        try:
            return self._errors(document)
        except Exception as exc:  # noqa: BLE001 - the 400 stands on the structure issues alone
            log.info("rule check skipped on malformed resource", extra={"error_type": type(exc).__name__})
            return []

    def _errors(self, document: Any) -> list[Issue]:
        if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
            return []
        return [i for i in self.issues(document) if i.severity in ("error", "fatal")]

    def issues(self, resource: dict[str, Any]) -> list[Issue]:
        """Every issue of a structurally valid resource against what applies to it."""
        claimed = list((resource.get("meta") or {}).get("profile") or [])
        required = [p.url for p in self.required if p.wanted_for(resource) and p.url not in claimed]
        return self.validator.validate(resource, claimed + required, structure=False)
