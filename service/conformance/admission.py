"""Whether a resource may be stored: structure, base rules, and the Dyad profiles that apply."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service import fhirpath
from service.conformance.issues import InvalidResource, Issue, within_entry
from service.conformance.kinds import KindRecogniser
from service.conformance.parse import check_envelope
from service.conformance.validation import Assessment, Validator


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
        self.kinds = KindRecogniser(validator.terminology)
        self.required = [self._compile(url, condition) for url, condition in required.items()]

    def _compile(self, url: str, condition: str) -> RequiredProfile:
        profile = self.validator.profiles.get(url)
        if profile is None:
            raise ValueError(f"DYAD_REQUIRED_PROFILES names {url}, which profiles/ does not define")
        return RequiredProfile(url, profile.type, fhirpath.compile(condition or "true"))

    def admit(self, document: Any, expected_type: str | None = None) -> dict[str, Any]:
        """The resource, if it may be stored; else InvalidResource (400 malformed, 422 rules).

        One pass decides both: a malformed resource is refused with 400 and every other error
        found beside its structural ones, so a write reports what $validate reports."""
        resource = check_envelope(document, expected_type)
        assessment = self.assess(resource)
        if assessment.structure:
            raise InvalidResource(assessment.errors, status=400)
        if assessment.errors:
            raise InvalidResource(assessment.errors, status=422)
        return resource

    def assess(self, resource: dict[str, Any]) -> Assessment:
        """Every issue of a resource against the R4 core and the profiles that apply to it; in a
        Bundle, each entry's resource is held to the profiles that apply to it too."""
        assessment = self.validator.assess(resource, self.profiles_for(resource))
        if resource.get("resourceType") == "Bundle" and isinstance(resource.get("entry"), list):
            assessment.rules.extend(self._entry_rules(resource["entry"]))
        return assessment

    def _entry_rules(self, entries: list[Any]) -> list[Issue]:
        found: list[Issue] = []
        for index, entry in enumerate(entries):
            inner = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(inner, dict) and isinstance(inner.get("resourceType"), str):
                issues = self.validator.profile_issues(inner, self.profiles_for(inner))
                found.extend(within_entry(issue, f"Bundle.entry[{index}]") for issue in issues)
        return found

    def profiles_for(self, resource: dict[str, Any]) -> list[str]:
        """Those it claims, those of its Dyad kind (claimed or not), and DYAD_REQUIRED_PROFILES'."""
        meta = resource.get("meta")
        listed = meta.get("profile") if isinstance(meta, dict) else None
        profiles = [url for url in listed if isinstance(url, str)] if isinstance(listed, list) else []
        for url in self.kinds.profiles(resource) + [p.url for p in self.required if p.wanted_for(resource)]:
            if url not in profiles and url.split("|", 1)[0] not in [p.split("|", 1)[0] for p in profiles]:
                profiles.append(url)
        return profiles

    def issues(self, resource: dict[str, Any]) -> list[Issue]:
        return self.assess(resource).issues
